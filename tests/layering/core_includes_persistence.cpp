// Must not compile: the bottom layer sees nothing above it.
#include "persistence/document_store.hpp"
