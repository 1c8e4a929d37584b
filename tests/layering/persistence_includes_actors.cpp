// Must not compile: persistence is below the actors.
#include "actors/messages.hpp"
