// Must not compile: the configuration uses nothing of ours.
#include "actors/core/errc.hpp"
