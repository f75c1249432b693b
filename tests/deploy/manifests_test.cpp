// The deployment files cannot run here (no Docker engine, no cluster), so their consistency with
// tailgate's own config is what is checked: every manifest parsed, every field that must agree.
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "config/load_config.hpp"
#include "support/child_process.hpp"

using namespace tailgate;

namespace {

const std::string kDeploy = TAILGATE_SOURCE_DIR "/deploy";

std::string text_of(const std::string& path) {
  return testing::read_file(path);
}

int port_of(const std::string& endpoint) {
  return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
}

std::size_t mebibytes(const std::string& quantity) {
  REQUIRE(quantity.ends_with("Mi"));
  return std::stoul(quantity.substr(0, quantity.size() - 2)) << 20;
}

YAML::Node find_named(const YAML::Node& list, const std::string& name) {
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  }
  FAIL("no entry named " << name);
  return {};
}

bool mounts(const YAML::Node& container, const std::string& volume, const std::string& path) {
  for (const auto& m : container["volumeMounts"]) {
    if (m["name"].as<std::string>() == volume && m["mountPath"].as<std::string>() == path)
      return true;
  }
  return false;
}

}  // namespace

TEST_CASE("the Kubernetes sidecar agrees with the config it is given", "[deploy]") {
  const auto docs = YAML::LoadAllFromFile(kDeploy + "/kubernetes/configmap.yaml");
  REQUIRE(docs.size() == 1);
  auto config_text = docs[0]["data"]["tailgate.yaml"].as<std::string>();
  // The CA comes from a Secret in the cluster; a stand-in file lets the config load here.
  testing::TempDir dir;
  std::ofstream(dir.file("ca.crt")) << "stand-in";
  const std::string mounted_ca = "/etc/tailgate/tls/ca.crt";
  config_text.replace(config_text.find(mounted_ca), mounted_ca.size(), dir.file("ca.crt"));
  // So does the Redis password (peers; checked in peers_manifests_test.cpp).
  std::ofstream(dir.file("password")) << "stand-in";
  const std::string mounted_password = "/etc/tailgate/redis/password";
  config_text.replace(config_text.find(mounted_password), mounted_password.size(),
                      dir.file("password"));
  const auto config = config::load_config_text(config_text, "configmap.yaml");

  const auto deployment = YAML::LoadFile(kDeploy + "/kubernetes/sidecar.yaml");
  const auto pod = deployment["spec"]["template"]["spec"];
  const auto containers = pod["containers"];
  // A native sidecar: an init container that keeps running, started (and ready: its
  // startupProbe) before the trading bot, stopped after it.
  const auto tailgate = find_named(pod["initContainers"], "tailgate");
  CHECK(tailgate["restartPolicy"].as<std::string>() == "Always");
  const int admin_port = port_of(config.admin.endpoint);
  CHECK(tailgate["startupProbe"]["httpGet"]["path"].as<std::string>() == "/ready");
  CHECK(tailgate["startupProbe"]["httpGet"]["port"].as<int>() == admin_port);
  CHECK(config.admin.endpoint.starts_with("0.0.0.0:"));  // the kubelet probes from outside
  CHECK(tailgate["livenessProbe"]["httpGet"]["path"].as<std::string>() == "/health");
  CHECK(tailgate["livenessProbe"]["httpGet"]["port"].as<int>() == admin_port);
  CHECK(tailgate["readinessProbe"]["httpGet"]["path"].as<std::string>() == "/ready");
  CHECK(tailgate["readinessProbe"]["httpGet"]["port"].as<int>() == admin_port);
  CHECK(tailgate["ports"][0]["containerPort"].as<int>() == admin_port);

  // The config file is mounted where --config points.
  const auto args = tailgate["args"].as<std::vector<std::string>>();
  REQUIRE(args.size() == 2);
  CHECK(mounts(tailgate, "config", args[1]));

  // One in-memory volume at /dev/shm in every container: the ring is shared.
  const auto shm = find_named(pod["volumes"], "shm");
  CHECK(shm["emptyDir"]["medium"].as<std::string>() == "Memory");
  for (const auto& c : containers) CHECK(mounts(c, "shm", "/dev/shm"));
  CHECK(mounts(tailgate, "shm", "/dev/shm"));

  // The trading bot loads the libtailgate that an init container, run to completion before the
  // sidecar, copies from the tailgate image into a volume on the bot's library path.
  const auto bot = find_named(containers, "trading-bot");
  const auto copier = pod["initContainers"][0];
  REQUIRE(copier["name"].as<std::string>() == "libtailgate");
  CHECK(!copier["restartPolicy"]);
  CHECK(copier["image"].as<std::string>() == tailgate["image"].as<std::string>());
  const auto copy = copier["command"].as<std::vector<std::string>>();
  const auto lib_dir = copy.back();
  CHECK(copy.end()[-2].ends_with("/libtailgate.so.0"));
  CHECK(mounts(copier, "tailgate-lib", lib_dir.substr(0, lib_dir.size() - 1)));
  CHECK(mounts(bot, "tailgate-lib", lib_dir.substr(0, lib_dir.size() - 1)));
  CHECK(find_named(bot["env"], "LD_LIBRARY_PATH")["value"].as<std::string>() + "/" == lib_dir);

  // The root filesystem is read-only, so the spool must live on a mounted volume.
  CHECK(tailgate["securityContext"]["readOnlyRootFilesystem"].as<bool>());
  CHECK_FALSE(tailgate["securityContext"]["allowPrivilegeEscalation"].as<bool>());
  CHECK(pod["securityContext"]["runAsNonRoot"].as<bool>());
  bool spool_mounted = false;
  for (const auto& m : tailgate["volumeMounts"]) {
    spool_mounted |=
        config.exporter.spool_directory.starts_with(m["mountPath"].as<std::string>() + "/");
  }
  CHECK(spool_mounted);
  CHECK(mounts(tailgate, "jaeger-ca", "/etc/tailgate/tls"));

  // The memory limit follows the sizing rule written above it in sidecar.yaml: the configured
  // bounds, the export requests (512 spans of ~4 KiB each), OTLP/gRPC decoding, 64 MiB of
  // process, and a quarter more (measured: VmHWM 276 MiB in a flat-out burst, Jaeger down).
  constexpr std::size_t kMiB = 1u << 20;
  const auto limit = mebibytes(tailgate["resources"]["limits"]["memory"].as<std::string>());
  const auto& grpc = config.receivers.otlp_grpc;
  const std::size_t bounds =
      config.sampling.max_buffered_bytes + config.pipeline.queue_bytes +
      config.exporter.queue_bytes + config.peers.hold_bytes +
      3 * config.exporter.max_inflight_requests * 2 * kMiB +
      (grpc.enabled ? 4 * grpc.max_inflight_requests * grpc.max_request_bytes : 0) + 64 * kMiB;
  CHECK(limit >= bounds * 5 / 4);
  CHECK(limit >= 276 * kMiB);
  CHECK(mebibytes(tailgate["resources"]["requests"]["memory"].as<std::string>()) <= limit);
}

TEST_CASE("the compose stack wires load generator, tailgate and Jaeger together", "[deploy]") {
  const auto compose = YAML::LoadFile(kDeploy + "/compose/docker-compose.yaml");
  const auto services = compose["services"];
  // The Redis password is a compose secret mounted as a file; a stand-in lets the config load.
  testing::TempDir dir;
  std::ofstream(dir.file("password")) << "stand-in";
  auto config_text = text_of(kDeploy + "/compose/tailgate.yaml");
  const std::string mounted_password = "/run/secrets/redis_password";
  config_text.replace(config_text.find(mounted_password), mounted_password.size(),
                      dir.file("password"));
  const auto config = config::load_config_text(config_text, "compose/tailgate.yaml");

  const auto jaeger = services["jaeger"];
  CHECK(jaeger["environment"]["COLLECTOR_OTLP_ENABLED"].as<std::string>() == "true");
  const auto jaeger_ports = jaeger["ports"].as<std::vector<std::string>>();
  CHECK(std::find(jaeger_ports.begin(), jaeger_ports.end(), "16686:16686") != jaeger_ports.end());
  CHECK(std::find(jaeger_ports.begin(), jaeger_ports.end(), "4317:4317") != jaeger_ports.end());
  CHECK(config.exporter.endpoint == "jaeger:4317");

  const auto tailgate = services["tailgate"];
  const auto command = tailgate["command"].as<std::vector<std::string>>();
  const auto volume = tailgate["volumes"][0].as<std::string>();
  CHECK(volume.starts_with("./tailgate.yaml:" + command[1]));
  CHECK(config.receivers.udp.endpoint.starts_with("0.0.0.0:"));  // reachable by loadgen
  const auto published = tailgate["ports"][0].as<std::string>();
  CHECK(published == std::to_string(port_of(config.admin.endpoint)) + ":" +
                         std::to_string(port_of(config.admin.endpoint)));

  const auto load = services["loadgen"]["command"].as<std::vector<std::string>>();
  CHECK(load[1].starts_with("tailgate:" + std::to_string(port_of(config.receivers.udp.endpoint)) +
                            ","));
}

TEST_CASE("the image is Debian 12, runs as a non-root user and exposes the default ports",
          "[deploy]") {
  const auto dockerfile = text_of(kDeploy + "/docker/Dockerfile");
  const config::Config defaults;
  CHECK_THAT(dockerfile, Catch::Matchers::Contains("FROM debian:12"));
  CHECK_THAT(dockerfile, Catch::Matchers::Contains("USER tailgate"));
  for (const auto& port :
       {std::to_string(port_of(defaults.receivers.udp.endpoint)) + "/udp",
        std::to_string(port_of(defaults.receivers.jaeger_compact.endpoint)) + "/udp",
        std::to_string(port_of(defaults.receivers.otlp_grpc.endpoint)) + "/tcp",
        std::to_string(port_of(defaults.receivers.otlp_http.endpoint)) + "/tcp",
        std::to_string(port_of(defaults.admin.endpoint)) + "/tcp"}) {
    CHECK_THAT(dockerfile,
               Catch::Matchers::Contains("EXPOSE ") && Catch::Matchers::Contains(" " + port));
  }
}
