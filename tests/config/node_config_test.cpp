// The node configuration (config/): where each setting comes from and what
// collabd refuses before it starts. Precedence, weakest first: the defaults
// of node_config, a config file (--config, TOML), the COLLAB_* environment,
// the command line. Validation gives one clear message per refused setting.
//
// The fixture clears every COLLAB_* variable for the test and puts the old
// environment back afterwards, so the results do not depend on the shell
// the suite runs from.
#define CAF_SUITE config.node_config

#include "config/node_config.hpp"
#include "config/node_config_validate.hpp"

#include <caf/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <unistd.h>

extern char** environ;

using namespace collab;

namespace {

struct fixture {
  std::map<std::string, std::string> saved_env;
  std::vector<std::string> files;

  fixture() {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv{*e};
      if (kv.rfind("COLLAB_", 0) == 0)
        saved_env.emplace(kv.substr(0, kv.find('=')),
                          kv.substr(kv.find('=') + 1));
    }
    for (auto& [name, value] : saved_env)
      unsetenv(name.c_str());
  }

  ~fixture() {
    for (char** e = environ; *e != nullptr;) {
      std::string kv{*e};
      if (kv.rfind("COLLAB_", 0) == 0) {
        unsetenv(kv.substr(0, kv.find('=')).c_str());
        e = environ; // unsetenv moved the entries
      } else {
        ++e;
      }
    }
    for (auto& [name, value] : saved_env)
      setenv(name.c_str(), value.c_str(), 1);
    for (auto& f : files)
      std::remove(f.c_str());
  }

  // A config file with `text`, removed with the fixture.
  std::string config_file(const std::string& text) {
    char path[] = "/tmp/collab-config-test-XXXXXX.toml";
    int fd = mkstemps(path, 5);
    CAF_REQUIRE(fd >= 0);
    close(fd);
    std::ofstream{path} << text;
    files.emplace_back(path);
    return path;
  }

  // parse_node_config's exit code (-1: start) for `args`; `cfg` gets the
  // result.
  int parse(std::vector<std::string> args, node_config& cfg) {
    args.insert(args.begin(), "collabd");
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    return parse_node_config(static_cast<int>(args.size()), argv.data(), cfg);
  }

  node_config parsed(std::vector<std::string> args) {
    node_config cfg;
    auto rc = parse(std::move(args), cfg);
    CAF_REQUIRE_EQUAL(rc, -1);
    return cfg;
  }

  // A configuration that passes validation outside development mode.
  static node_config valid() {
    node_config cfg;
    cfg.jwt_secret = "a secret long enough";
    return cfg;
  }

  static bool has_error(const std::vector<std::string>& errors,
                        const std::string& part) {
    for (auto& e : errors)
      if (e.find(part) != std::string::npos)
        return true;
    return false;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(node_config_tests, fixture)

// ---- precedence

CAF_TEST(without any source every setting has its default) {
  auto cfg = parsed({});
  node_config defaults;
  CAF_CHECK_EQUAL(cfg.node_id, defaults.node_id);
  CAF_CHECK_EQUAL(cfg.client_port, 8080);
  CAF_CHECK_EQUAL(cfg.rate_limit, 500.0);
  CAF_CHECK_EQUAL(cfg.dev, false);
  CAF_CHECK(cfg.seeds.empty());
}

CAF_TEST(a config file overrides the defaults) {
  auto file = config_file("node-id = \"from-file\"\n"
                          "client-port = 9001\n"
                          "rate-limit = 7\n"
                          "seeds = [\"a:1\", \"b:2\"]\n");
  auto cfg = parsed({"--config", file});
  CAF_CHECK_EQUAL(cfg.node_id, "from-file");
  CAF_CHECK_EQUAL(cfg.client_port, 9001);
  CAF_CHECK_EQUAL(cfg.rate_limit, 7.0);
  CAF_CHECK_EQUAL(cfg.seeds, (std::vector<std::string>{"a:1", "b:2"}));
  // What the file does not name keeps its default.
  CAF_CHECK_EQUAL(cfg.bind, "127.0.0.1");
}

CAF_TEST(the environment overrides the config file) {
  auto file = config_file("node-id = \"from-file\"\nclient-port = 9001\n");
  setenv("COLLAB_NODE_ID", "from-env", 1);
  setenv("COLLAB_SEEDS", "c:3,d:4", 1);
  auto cfg = parsed({"--config", file});
  CAF_CHECK_EQUAL(cfg.node_id, "from-env");
  CAF_CHECK_EQUAL(cfg.client_port, 9001); // only in the file
  CAF_CHECK_EQUAL(cfg.seeds, (std::vector<std::string>{"c:3", "d:4"}));
}

CAF_TEST(an empty variable is unset and takes no other option with it) {
  setenv("COLLAB_SEEDS", "", 1);
  setenv("COLLAB_CLUSTER_BIND", "10.0.0.7", 1);
  auto cfg = parsed({});
  CAF_CHECK(cfg.seeds.empty());
  CAF_CHECK_EQUAL(cfg.cluster_bind, "10.0.0.7");
}

CAF_TEST(the command line overrides the environment and the file) {
  auto file = config_file("node-id = \"from-file\"\nclient-port = 9001\n");
  setenv("COLLAB_NODE_ID", "from-env", 1);
  setenv("COLLAB_CLIENT_PORT", "9002", 1);
  auto cfg
    = parsed({"--config", file, "--node-id", "from-cli", "--client-port=9003"});
  CAF_CHECK_EQUAL(cfg.node_id, "from-cli");
  CAF_CHECK_EQUAL(cfg.client_port, 9003);
}

CAF_TEST(a flag comes from the environment as 1 or true) {
  setenv("COLLAB_DEV", "1", 1);
  CAF_CHECK_EQUAL(parsed({}).dev, true);
  setenv("COLLAB_DEV", "true", 1);
  CAF_CHECK_EQUAL(parsed({}).dev, true);
  setenv("COLLAB_DEV", "0", 1);
  CAF_CHECK_EQUAL(parsed({}).dev, false);
}

CAF_TEST(a bad value or an unknown option stops the node) {
  // The exit code is CLI11's for the kind of error (ValidationError 105,
  // ExtrasError 109, ConfigError 110): never -1 (start) nor 0 (--help).
  node_config cfg;
  CAF_CHECK_GREATER(parse({"--jwt-leeway", "31"}, cfg), 0);
  setenv("COLLAB_IO_THREADS", "0", 1);
  CAF_CHECK_GREATER(parse({}, cfg), 0);
  unsetenv("COLLAB_IO_THREADS");
  CAF_CHECK_GREATER(parse({"--log-level", "loud"}, cfg), 0);
  CAF_CHECK_GREATER(parse({"--no-such-option", "1"}, cfg), 0);
  auto file = config_file("no-such-key = 1\n");
  CAF_CHECK_GREATER(parse({"--config", file}, cfg), 0);
  CAF_CHECK_EQUAL(parse({"--help"}, cfg), 0);
}

// ---- validation

CAF_TEST(a complete configuration passes) {
  CAF_CHECK(validate_node_config(valid()).empty());
  auto cfg = valid();
  cfg.cluster_port = 7070;
  cfg.cluster_key = std::string(min_cluster_key_bytes, 'k');
  cfg.seeds = {"127.0.0.1:7071", "node-b.internal:7072", "[::1]:65535"};
  CAF_CHECK_EQUAL(validate_node_config(cfg), std::vector<std::string>{});
}

CAF_TEST(a missing token secret is refused outside development mode) {
  node_config cfg;
  auto errors = validate_node_config(cfg);
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK(has_error(errors, "COLLAB_JWT_SECRET"));
  cfg.dev = true;
  CAF_CHECK(validate_node_config(cfg).empty());
  cfg.dev = false;
  cfg.jwt_public_key = "/etc/collab/idp.pem"; // RS256 only
  CAF_CHECK(validate_node_config(cfg).empty());
}

CAF_TEST(an admin port needs a token outside development mode) {
  auto cfg = valid();
  cfg.admin_port = 9090;
  auto errors = validate_node_config(cfg);
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK(has_error(errors, "COLLAB_ADMIN_TOKEN"));
  cfg.admin_token = "t";
  CAF_CHECK(validate_node_config(cfg).empty());
  cfg.admin_token.clear();
  cfg.dev = true;
  CAF_CHECK(validate_node_config(cfg).empty());
}

CAF_TEST(cluster TLS needs all three files) {
  auto cfg = valid();
  cfg.cluster_port = 7070;
  cfg.cluster_tls_cert = "node.pem";
  cfg.cluster_tls_key = "node.key";
  auto errors = validate_node_config(cfg);
  // One message: not also "needs a key" for the same mistake.
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK(has_error(errors, "COLLAB_CLUSTER_TLS_CERT, _KEY and _CA"));
  cfg.cluster_tls_ca = "ca.pem";
  CAF_CHECK(validate_node_config(cfg).empty());
}

CAF_TEST(a cluster port needs a key or TLS outside development mode) {
  auto cfg = valid();
  cfg.cluster_port = 7070;
  auto errors = validate_node_config(cfg);
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK(has_error(errors, "a cluster port needs COLLAB_CLUSTER_KEY"));
  cfg.dev = true; // development: any peer (collabd warns)
  CAF_CHECK(validate_node_config(cfg).empty());
  cfg.dev = false;
  cfg.cluster_tls_cert = "node.pem";
  cfg.cluster_tls_key = "node.key";
  cfg.cluster_tls_ca = "ca.pem";
  CAF_CHECK(validate_node_config(cfg).empty());
}

CAF_TEST(a short cluster key is refused) {
  auto cfg = valid();
  cfg.cluster_port = 7070;
  cfg.cluster_key = std::string(min_cluster_key_bytes - 1, 'k');
  auto errors = validate_node_config(cfg);
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK_EQUAL(errors[0], "COLLAB_CLUSTER_KEY is shorter than 16 bytes");
  cfg.cluster_key += 'k';
  CAF_CHECK(validate_node_config(cfg).empty());
}

CAF_TEST(client TLS needs a certificate and a key) {
  auto cfg = valid();
  cfg.tls_cert = "tls.pem";
  auto errors = validate_node_config(cfg);
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK(has_error(errors, "COLLAB_TLS_CERT and COLLAB_TLS_KEY"));
  cfg.tls_cert.clear();
  cfg.tls_key = "tls.key";
  CAF_CHECK_EQUAL(validate_node_config(cfg).size(), 1u);
  cfg.tls_cert = "tls.pem";
  CAF_CHECK(validate_node_config(cfg).empty());
}

CAF_TEST(a seed must be host and numeric port) {
  for (auto bad : {"host:abc", "host", "host:", ":7070", "host:0", "host:65536",
                   "host:99999999999", "host:-1", "host:+80", "host: 80",
                   "host:80 ", ""}) {
    CAF_MESSAGE("seed \"" << bad << "\"");
    CAF_CHECK(!valid_seed(bad));
    auto cfg = valid();
    cfg.seeds = {"good:7070", bad};
    auto errors = validate_node_config(cfg);
    CAF_REQUIRE_EQUAL(errors.size(), 1u);
    CAF_CHECK_EQUAL(errors[0], "COLLAB_SEEDS: '" + std::string(bad)
                                 + "' is not host:port with a port in "
                                   "1..65535");
  }
  for (auto good : {"host:1", "10.0.0.1:65535", "[::1]:7070", "h:007"})
    CAF_CHECK(valid_seed(good));
}

CAF_TEST(a bad seed from the environment is refused) {
  setenv("COLLAB_SEEDS", "127.0.0.1:7071,127.0.0.1:abc", 1);
  auto cfg = parsed({"--jwt-secret", "s"});
  auto errors = validate_node_config(cfg);
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK(has_error(errors, "'127.0.0.1:abc'"));
}

CAF_TEST(every problem is reported and not only the first) {
  node_config cfg;
  cfg.admin_port = 9090;
  cfg.tls_key = "tls.key";
  cfg.seeds = {"x"};
  CAF_CHECK_EQUAL(validate_node_config(cfg).size(), 4u);
}

CAF_TEST_FIXTURE_SCOPE_END()
