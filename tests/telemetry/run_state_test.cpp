#include "telemetry/run_state.hpp"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/child_process.hpp"

using namespace tailgate::telemetry;
namespace fs = std::filesystem;
using Previous = RunState::Previous;

namespace {

// 100 received, 10 exported, 20 sampled out, 5 dropped, 15 in the spool: 50 in memory.
void fill(Counters& c) {
  c.add_received(Receiver::Udp, 60);
  c.add_received(Receiver::Ring, 40);
  c.spans_exported = 10;
  c.spans_sampled_out = 20;
  c.add_dropped(DropReason::PipelineFull, 5);
  c.add_dropped(DropReason::Malformed, 7);  // never received: not part of the identity
  c.spool_spans = 15;
}

}  // namespace

TEST_CASE("a run that was not marked clean is reported with the spans it held", "[run_state]") {
  tailgate::testing::TempDir dir;
  {
    Counters c;
    RunState run(dir.file("state"));
    CHECK(run.open(c) == Previous::None);  // the first start ever
    fill(c);
    run.save(c, false);
  }  // no clean save: killed
  Counters next;
  RunState again(dir.file("state"));
  CHECK(again.open(next) == Previous::Unclean);
  CHECK(next.unclean_stops == 1);
  CHECK(next.spans_lost_in_crash == 50);
  CHECK(next.state_files_torn == 0);
}

TEST_CASE("a run marked clean reports nothing lost", "[run_state]") {
  tailgate::testing::TempDir dir;
  {
    Counters c;
    RunState run(dir.file("state"));
    run.open(c);
    fill(c);
    run.save(c, true);
  }
  Counters next;
  RunState again(dir.file("state"));
  CHECK(again.open(next) == Previous::Clean);
  CHECK(next.unclean_stops == 0);
  CHECK(next.spans_lost_in_crash == 0);
  // ... and this run is now the one not yet marked clean.
  Counters third;
  CHECK(RunState(dir.file("state")).open(third) == Previous::Unclean);
  CHECK(third.spans_lost_in_crash == 0);
}

TEST_CASE("a torn or damaged state file is ignored and counted", "[run_state]") {
  tailgate::testing::TempDir dir;
  const auto path = dir.file("state/tailgate.state");
  const auto write_and_damage = [&](auto damage) {
    Counters c;
    RunState run(dir.file("state"));
    run.open(c);
    fill(c);
    run.save(c, false);
    damage();
  };
  SECTION("cut short, as by a power cut") {
    write_and_damage([&] { fs::resize_file(path, fs::file_size(path) / 2); });
  }
  SECTION("a changed digit") {
    write_and_damage([&] {
      std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      const auto at = text.find("received=100");
      REQUIRE(at != std::string::npos);
      f.seekp(static_cast<std::streamoff>(at + 9));
      f.put('9');  // received=900: the checksum no longer matches
    });
  }
  SECTION("empty") {
    write_and_damage([&] { std::ofstream(path, std::ios::trunc); });
  }
  Counters next;
  RunState again(dir.file("state"));
  CHECK(again.open(next) == Previous::Torn);
  CHECK(next.state_files_torn == 1);
  CHECK(next.unclean_stops == 0);
  CHECK(next.spans_lost_in_crash == 0);
}

TEST_CASE("in flight never goes below zero nor wraps", "[run_state]") {
  CHECK(RunSnapshot{10, 0, 20, 0, 0, 0}.in_flight() == 0);
  CHECK(RunSnapshot{~0ull, 5, 0, 0, 0, 0}.in_flight() == 0);  // overflow: not trusted
  CHECK(RunSnapshot{100, 20, 30, 10, 5, 15}.in_flight() == 60);
}

TEST_CASE("without a directory nothing is written", "[run_state]") {
  Counters c;
  RunState run("");
  CHECK(run.open(c) == Previous::None);
  run.save(c, true);
  CHECK(run.path().empty());
}
