#include "telemetry/process_metrics.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include <catch2/catch.hpp>

#include "support/metrics_text.hpp"

using namespace tailgate;
using Catch::Matchers::Contains;

namespace {
std::string render() {
  telemetry::Exposition out(telemetry::Format::Prometheus);
  telemetry::process_metrics(out);
  return out.take();
}
}  // namespace

TEST_CASE("/metrics has the process metrics of every Prometheus exporter", "[telemetry]") {
  const auto text = render();
  INFO(text);
  // The standard names and types, so stock dashboards and alerts work unchanged.
  CHECK_THAT(text, Contains("# TYPE process_cpu_seconds_total counter\n"));
  for (const char* gauge : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                            "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
    CHECK_THAT(text, Contains(std::string("# TYPE ") + gauge + " gauge\n"));
  }
  CHECK(testing::metric_value(text, "process_cpu_seconds_total") >= 0);
  const auto resident = testing::metric_value(text, "process_resident_memory_bytes");
  CHECK(resident > 1 << 20);  // this test binary alone maps more than 1 MiB
  CHECK(testing::metric_value(text, "process_virtual_memory_bytes") >= resident);
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  CHECK(testing::metric_value(text, "process_max_fds") == static_cast<double>(limit.rlim_cur));
  const auto now = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  const auto start = testing::metric_value(text, "process_start_time_seconds");
  CHECK(start <= now + 1);
  CHECK(start > now - 3600);  // this test process started within the hour
}

TEST_CASE("process_open_fds counts the descriptors really open", "[telemetry]") {
  const auto before = testing::metric_value(render(), "process_open_fds");
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const auto during = testing::metric_value(render(), "process_open_fds");
  for (const int fd : fds) ::close(fd);
  CHECK(during == before + 5);
}

TEST_CASE("tailgate_build_info says which build runs", "[telemetry]") {
  const auto text = render();
  INFO(text);
  CHECK_THAT(text, Contains("# TYPE tailgate_build_info gauge\n"));
  CHECK_THAT(text, Contains(std::string("tailgate_build_info{version=\"") +
                            std::string(telemetry::build_version()) + "\","));
  CHECK(testing::metric_value(text, "tailgate_build_info") == 1);
  CHECK(telemetry::build_version() == std::string_view(TAILGATE_EXPECTED_VERSION));
}
