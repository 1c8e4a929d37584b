# Redis op log suites (persistence/redis_*). Included from
# tests/persistence/CMakeLists.txt with include(redis.cmake).
# Every suite but persistence.redis_url needs a Redis: COLLAB_TEST_REDIS_URL
# (tools/test sets it); without it they fail. persistence.redis_outage starts
# private Redis instances through tools/services, never touching the shared one.
# persistence.redis_figure prints "FIGURE ..." lines (resume read of 1,000 ops).
collab_caf_tests(redis_tests
  SUITES persistence.redis_url persistence.redis_op_log
         persistence.redis_outage persistence.redis_figure
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_url_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/redis_op_log_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/redis_outage_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/redis_figure_test.cpp
  LIBS collab_persistence)
target_compile_definitions(redis_tests PRIVATE
  COLLAB_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
