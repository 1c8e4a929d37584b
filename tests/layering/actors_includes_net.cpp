// Must not compile: the actors are below the network layer.
#include "net/codec.hpp"
