// The fleet's parts of the deployment files (peers, docs/fleet.md): the Redis each stack adds, the
// agents' peers settings that point at it, and the password's way from a Secret to both, never
// written in the YAML. The Redis start-up commands are run for real against Debian's
// redis-server (on a Unix socket in a temp dir), since a quoting mistake there would only show in
// a cluster.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "config/load_config.hpp"
#include "support/child_process.hpp"

using namespace tailgate;

namespace {

const std::string kDeploy = TAILGATE_SOURCE_DIR "/deploy";

YAML::Node named(const YAML::Node& list, const std::string& name) {
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  }
  FAIL("no entry named " << name);
  return {};
}

std::string replaced(std::string text, const std::string& what, const std::string& by) {
  const auto at = text.find(what);
  REQUIRE(at != std::string::npos);
  return text.replace(at, what.size(), by);
}

// One command on a fresh connection to the Unix socket; the reply's first line.
std::string ask(const std::string& socket_path, const std::vector<std::string>& commands) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(socket_path.size() < sizeof addr.sun_path);
  std::copy(socket_path.begin(), socket_path.end(), addr.sun_path);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string last;
  for (const auto& c : commands) {
    const auto line = c + "\r\n";
    REQUIRE(::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
    char buffer[512];
    const auto n = ::read(fd, buffer, sizeof buffer);
    last = n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }
  ::close(fd);
  return last.substr(0, last.find("\r\n"));
}

// Runs a manifest's Redis start-up script under /bin/sh with `environment`, listening on a Unix
// socket only (in place of `at`, which stays if `keep`), and checks that the Redis it starts wants
// the password and takes it.
void check_redis_script(const std::string& script, const std::string& at, bool keep,
                        const std::vector<std::string>& environment, const std::string& password) {
  testing::TempDir dir;
  const auto sock = dir.file("redis.sock");
  const auto run = replaced(script, at,
                            "--port 0 --unixsocket " + sock + " --dir " + dir.file("") +
                                (keep ? " " + at : std::string()));
  testing::ChildProcess redis({"/bin/sh", "-c", run}, dir.file("out"), dir.file("err"),
                              environment);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::access(sock.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(redis.running());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  INFO(testing::read_file(dir.file("out")) << testing::read_file(dir.file("err")));
  REQUIRE(::access(sock.c_str(), F_OK) == 0);
  CHECK(ask(sock, {"PING"}).starts_with("-NOAUTH"));
  CHECK(ask(sock, {"AUTH wrong-password"}).starts_with("-WRONGPASS"));
  CHECK(ask(sock, {"AUTH " + password, "PING"}) == "+PONG");
  // exec: the shell became redis-server (the container's signals reach Redis).
  const auto cmdline = testing::read_file("/proc/" + std::to_string(redis.pid()) + "/cmdline");
  CHECK_THAT(cmdline, Catch::Matchers::Contains("redis-server"));
  redis.signal(SIGTERM);
  CHECK(redis.wait(std::chrono::seconds(10)).has_value());
}

}  // namespace

TEST_CASE("Kubernetes: the sidecars share keeps through the namespace's Redis", "[deploy]") {
  const auto redis_docs = YAML::LoadAllFromFile(kDeploy + "/kubernetes/redis.yaml");
  REQUIRE(redis_docs.size() == 3);
  const auto& deployment = redis_docs[0];
  const auto& service = redis_docs[1];
  const auto& policy = redis_docs[2];
  CHECK(deployment["kind"].as<std::string>() == "Deployment");
  CHECK(service["kind"].as<std::string>() == "Service");
  CHECK(policy["kind"].as<std::string>() == "NetworkPolicy");

  // The sidecar's config, with the mounted files replaced by stand-ins so that it loads here.
  testing::TempDir dir;
  std::ofstream(dir.file("ca.crt")) << "stand-in";
  std::ofstream(dir.file("password")) << "stand-in-password\n";
  auto text =
      YAML::LoadAllFromFile(kDeploy + "/kubernetes/configmap.yaml")[0]["data"]["tailgate.yaml"]
          .as<std::string>();
  CHECK(text.find("password:") == std::string::npos);  // only password_file, never the secret
  const std::string mounted_password = "/etc/tailgate/redis/password";
  text = replaced(text, "/etc/tailgate/tls/ca.crt", dir.file("ca.crt"));
  text = replaced(text, mounted_password, dir.file("password"));
  const auto config = config::load_config_text(text, "configmap.yaml");
  REQUIRE(config.peers.enabled);
  CHECK(config.peers.password == "stand-in-password");

  // peers.endpoint is the Service's name and port.
  const auto service_name = service["metadata"]["name"].as<std::string>();
  const auto port = service["spec"]["ports"][0]["port"].as<int>();
  CHECK(config.peers.endpoint == service_name + ":" + std::to_string(port));
  CHECK(service["spec"]["selector"]["app"].as<std::string>() ==
        deployment["spec"]["template"]["metadata"]["labels"]["app"].as<std::string>());

  // One Secret serves both: Redis's environment, and the file the sidecar reads.
  const auto redis_pod = deployment["spec"]["template"]["spec"];
  const auto redis = named(redis_pod["containers"], "redis");
  const auto secret_ref = named(redis["env"], "REDIS_PASSWORD")["valueFrom"]["secretKeyRef"];
  const auto sidecar = YAML::LoadFile(kDeploy + "/kubernetes/sidecar.yaml");
  const auto pod = sidecar["spec"]["template"]["spec"];
  const auto volume = named(pod["volumes"], "redis-password")["secret"];
  CHECK(volume["secretName"].as<std::string>() == secret_ref["name"].as<std::string>());
  CHECK(volume["items"][0]["key"].as<std::string>() == secret_ref["key"].as<std::string>());
  const auto tailgate = named(pod["initContainers"], "tailgate");
  const auto mount = named(tailgate["volumeMounts"], "redis-password");
  CHECK(mount["mountPath"].as<std::string>() + "/" + volume["items"][0]["path"].as<std::string>() ==
        mounted_password);

  // The NetworkPolicy lets the sidecar's pods in.
  const auto from = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"];
  for (const auto& label : from) {
    const auto key = label.first.as<std::string>();
    CHECK(sidecar["spec"]["template"]["metadata"]["labels"][key].as<std::string>() ==
          label.second.as<std::string>());
  }
  CHECK(policy["spec"]["podSelector"]["matchLabels"]["app"].as<std::string>() ==
        deployment["spec"]["template"]["metadata"]["labels"]["app"].as<std::string>());

  // The hold fits the memory limit beside the other bounds (measured process ~40 MiB peak).
  const auto limit = tailgate["resources"]["limits"]["memory"].as<std::string>();
  REQUIRE(limit.ends_with("Mi"));
  CHECK((std::stoul(limit.substr(0, limit.size() - 2)) << 20) >=
        config.sampling.max_buffered_bytes + config.exporter.queue_bytes + config.peers.hold_bytes +
            (48u << 20));

  // The Redis it starts: no persistence, password from the Secret's variable, not in argv.
  const auto script = redis["args"][0].as<std::string>();
  CHECK_THAT(script, Catch::Matchers::Contains("--save ''") &&
                         Catch::Matchers::Contains("--appendonly no"));
  check_redis_script(script, "--port 6379", false, {"REDIS_PASSWORD=k8s-Secret-value"},
                     "k8s-Secret-value");
}

TEST_CASE("compose: three agents share keeps through the stack's Redis", "[deploy]") {
  const auto compose = YAML::LoadFile(kDeploy + "/compose/docker-compose.yaml");
  const auto services = compose["services"];
  testing::TempDir dir;
  std::ofstream(dir.file("password")) << "compose-password";
  const std::string mounted = "/run/secrets/redis_password";
  const auto text = replaced(testing::read_file(kDeploy + "/compose/tailgate.yaml"), mounted,
                             dir.file("password"));
  CHECK(text.find("password:") == std::string::npos);
  const auto config = config::load_config_text(text, "compose/tailgate.yaml");
  REQUIRE(config.peers.enabled);
  CHECK(config.peers.endpoint == "redis:6379");
  CHECK(config.peers.password == "compose-password");

  // The secret comes from the environment and is mounted where password_file points.
  CHECK(compose["secrets"]["redis_password"]["environment"].as<std::string>() ==
        "TAILGATE_REDIS_PASSWORD");
  const std::vector<std::string> agents = {"tailgate", "tailgate-gateway", "tailgate-risk"};
  std::string targets;
  for (const auto& name : agents) {
    const auto agent = services[name];
    REQUIRE(agent);
    CHECK(agent["secrets"][0].as<std::string>() == "redis_password");
    CHECK(agent["volumes"][0].as<std::string>() == "./tailgate.yaml:/etc/tailgate/compose.yaml:ro");
    targets += (targets.empty() ? "" : ",") + name + ":" +
               config.receivers.udp.endpoint.substr(config.receivers.udp.endpoint.rfind(':') + 1);
  }
  // The load generator splits each trace over the three.
  const auto load = services["loadgen"]["command"].as<std::vector<std::string>>();
  CHECK(load[0] == "--fleet-targets");
  CHECK(load[1] == targets);

  // Compose turns $$ into $; the secret file stands in for /run/secrets.
  const auto redis = services["redis"];
  CHECK(redis["secrets"][0].as<std::string>() == "redis_password");
  auto script = redis["command"][0].as<std::string>();
  script = replaced(script, "$$(", "$(");
  script = replaced(script, mounted, dir.file("password"));
  check_redis_script(script, "--save ''", true, {}, "compose-password");
}
