// Must compile: persistence may use the bottom layer.
#include "actors/core/committed_op.hpp"
#include "persistence/document_store.hpp"
