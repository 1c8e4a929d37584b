// Unit tests of the admin pieces of the network layer: the admin token
// check, the revocation list (by jti, by user with iat), the demo page's
// static files and query parameters.
#define CAF_SUITE net.admin
#include <caf/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "net/admin_routes.hpp"
#include "net/http_util.hpp"
#include "net/revocation_list.hpp"
#include "net/static_site.hpp"

using namespace collab;
using namespace collab::net;

CAF_TEST(the admin token must match exactly) {
  CAF_CHECK(constant_time_equal("s3cret", "s3cret"));
  CAF_CHECK(!constant_time_equal("s3cre", "s3cret"));
  CAF_CHECK(!constant_time_equal("s3cretX", "s3cret"));
  CAF_CHECK(!constant_time_equal("S3cret", "s3cret"));
  CAF_CHECK(!constant_time_equal("", "s3cret"));
  // An unset token refuses everyone, the empty string included.
  CAF_CHECK(!constant_time_equal("", ""));
  CAF_CHECK(!constant_time_equal("x", ""));
}

CAF_TEST(a revoked jti is refused and others are not ) {
  revocation_list list;
  token_claims c;
  c.sub = "alice";
  c.jti = "j1";
  c.iat = 100;
  CAF_CHECK(!list.revoked(c));
  CAF_CHECK(list.add(revocation{"j1", {}, 200}));
  CAF_CHECK(!list.add(revocation{"j1", {}, 200})); // known already
  CAF_CHECK(list.revoked(c));
  c.jti = "j2";
  CAF_CHECK(!list.revoked(c));
}

CAF_TEST(a revoked user is refused for tokens issued before) {
  revocation_list list;
  list.add(revocation{{}, "alice", 1000});
  token_claims c;
  c.sub = "alice";
  c.iat = 999;
  CAF_CHECK(list.revoked(c));
  c.iat = 1000;
  CAF_CHECK(list.revoked(c));
  c.iat = 0; // no iat: counts as issued before
  CAF_CHECK(list.revoked(c));
  c.iat = 1001; // logged in again afterwards
  CAF_CHECK(!list.revoked(c));
  c.sub = "bob";
  c.iat = 5;
  CAF_CHECK(!list.revoked(c));
  // A later revocation moves the cut-off.
  CAF_CHECK(list.add(revocation{{}, "alice", 2000}));
  c.sub = "alice";
  c.iat = 1001;
  CAF_CHECK(list.revoked(c));
  CAF_CHECK_EQUAL(list.all().size(), 1u);
}

CAF_TEST(the demo page is served from the built directory) {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path()
             / ("collab-web-" + std::to_string(::getpid()));
  fs::create_directories(dir / "assets");
  std::ofstream{dir / "index.html"} << "<html>app-1a2b.js</html>";
  std::ofstream{dir / "assets" / "app-1a2b.js"} << "console.log(1)";
  static_site site;
  CAF_REQUIRE(site.load(dir.string()));
  auto index = site.find("/");
  CAF_REQUIRE(index != nullptr);
  CAF_CHECK_EQUAL(index->cache_control, "no-cache");
  CAF_CHECK_EQUAL(index->content_type, "text/html; charset=utf-8");
  auto js = site.find("/assets/app-1a2b.js");
  CAF_REQUIRE(js != nullptr);
  CAF_CHECK_EQUAL(js->body, "console.log(1)");
  CAF_CHECK_EQUAL(js->cache_control, "public, max-age=31536000, immutable");
  CAF_CHECK(site.find("/assets/other.js") == nullptr);
  CAF_CHECK(site.find("/index.html") == nullptr);
  CAF_CHECK(site.find("/assets/../index.html") == nullptr);
  fs::remove_all(dir);
  static_site missing;
  CAF_CHECK(!missing.load(dir.string()));
  CAF_CHECK(missing.empty());
}

CAF_TEST(query parameters) {
  CAF_CHECK_EQUAL(query_param("/a?node=n2&x=1", "node").value_or(""), "n2");
  CAF_CHECK_EQUAL(query_param("/a?x=1&node=n%2F3", "node").value_or(""),
                  "n%2F3");
  CAF_CHECK(!query_param("/a?nodes=1", "node"));
  CAF_CHECK(!query_param("/a", "node"));
  bool bad = false;
  CAF_CHECK_EQUAL(query_u64("/a?from=12", "from", 0, bad), 12u);
  CAF_CHECK(!bad);
  query_u64("/a?from=-1", "from", 0, bad);
  CAF_CHECK(bad);
  CAF_CHECK_EQUAL(percent_decode("a%2Fb"), "a/b");
  CAF_CHECK_EQUAL(percent_decode("%4a%4A%zz%4"), "JJ%zz%4");
  CAF_CHECK_EQUAL(percent_decode("a+b%2B"), "a+b+");
  CAF_CHECK_EQUAL(percent_decode("a+b%2B", true), "a b+");
}
