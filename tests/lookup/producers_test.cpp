// The producers the trace log names (lookup/producers.hpp): a resource's identifying attributes,
// cut, interned by content, never the resource itself.
#include "lookup/producers.hpp"

#include <vector>

#include <catch2/catch.hpp>

using namespace tailgate;

namespace {

std::shared_ptr<const model::Resource> resource_of(std::string service, std::int64_t pid,
                                                   std::size_t blob_bytes = 0) {
  return std::make_shared<const model::Resource>(model::Resource{{
      {"service.name", std::move(service)},
      {"process.pid", pid},
      {"blob", std::string(blob_bytes, 'b')},
  }});
}

}  // namespace

TEST_CASE("a producer is the resource's identifying attributes, one copy per content", "[lookup]") {
  lookup::Producers producers;
  const auto a = resource_of("orders", 42), b = resource_of("orders", 42),
             c = resource_of("risk", 42);
  const auto pa = producers.of(a), pb = producers.of(b), pc = producers.of(c);
  CHECK(pa == pb);  // two requests' resources, one producer
  CHECK(pa != pc);
  REQUIRE(pa->attributes.size() == 2);  // the blob is not one of them
  CHECK(pa->attributes[0].key == "service.name");
  CHECK(std::get<std::string>(pa->attributes[0].value) == "orders");
  CHECK(std::get<std::int64_t>(pa->attributes[1].value) == 42);
}

TEST_CASE("a producer keeps neither its resource nor more than a bounded part of its values",
          "[lookup]") {
  lookup::Producers producers;
  auto resource = resource_of(std::string(1000, 's') + "é", 7, 1 << 20);
  const std::weak_ptr<const model::Resource> original = resource;
  const auto producer = producers.of(resource);
  CHECK(std::get<std::string>(producer->attributes[0].value).size() ==
        lookup::Producers::kMaxValueBytes);
  resource.reset();
  CHECK(original.expired());
  // Many distinct producers: the memo and the content index stay bounded, answers stay right.
  for (int i = 0; i < 10'000; ++i) {
    const auto r = resource_of("svc-" + std::to_string(i), i);
    REQUIRE(std::get<std::string>(producers.of(r)->attributes[0].value) ==
            "svc-" + std::to_string(i));
  }
}

TEST_CASE("distinct producers named at once stay within their bytes, and give them back",
          "[lookup]") {
  // Outside attack: every decision of the window naming three made-up producers held +179 MiB.
  lookup::Producers producers;
  std::vector<std::shared_ptr<const model::Resource>> remembered;  // as the trace log holds them
  std::size_t unnamed = 0;
  for (int i = 0; i < 40'000; ++i) {
    auto producer = producers.of(resource_of(std::to_string(i) + std::string(200, 'p'), i));
    if (producer == nullptr) ++unnamed;
    remembered.push_back(std::move(producer));
    REQUIRE(producers.live_bytes() <= lookup::Producers::kMaxLiveBytes);
  }
  CHECK(unnamed > 0);
  const auto full = producers.live_bytes();
  remembered.clear();  // the window moved on: what is left is the last producers looked up
  CHECK(producers.live_bytes() < full / 2);
  CHECK(producers.of(resource_of("orders", 1)) != nullptr);
}
