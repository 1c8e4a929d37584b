// The one translation unit per test binary that defines CAF's test main().
#define CAF_SUITE main
#include <caf/test/unit_test_impl.hpp>
