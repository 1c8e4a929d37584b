// Must compile: the network layer may use the actors.
#include "actors/messages.hpp"
#include "net/codec.hpp"
