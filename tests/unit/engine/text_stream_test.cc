#include "engine/text_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"

namespace tessera {
namespace {

// Pushes pieces, collecting what take() hands out after each; then finish().
struct Fed {
  std::vector<std::string> taken;
  std::string all;
  bool stopped = false;
};

Fed feed(TextStream& s, const std::vector<std::string>& pieces) {
  Fed r;
  for (const auto& p : pieces) {
    r.stopped = s.push(p);
    r.taken.emplace_back(s.take());
    r.all += r.taken.back();
    if (r.stopped) break;
  }
  r.all += std::string(s.finish());
  return r;
}

TEST(TextStream, WithoutStopStringsPiecesPassStraightThrough) {
  TextStream s({});
  const Fed r = feed(s, {"Hello", ", ", "world"});
  EXPECT_EQ(r.taken, (std::vector<std::string>{"Hello", ", ", "world"}));
  EXPECT_EQ(r.all, "Hello, world");
  EXPECT_FALSE(r.stopped);
}

TEST(TextStream, AStopStringAcrossPiecesIsNeverEmitted) {
  TextStream s({"World"});
  const Fed r = feed(s, {"Hel", "lo W", "or", "ld!", "never"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.taken, (std::vector<std::string>{"Hel", "lo ", "", ""}));
  EXPECT_EQ(r.all, "Hello ");
  EXPECT_EQ(s.text(), "Hello ");
}

TEST(TextStream, AHeldPrefixIsReleasedWhenItCannotBecomeAStop) {
  TextStream s({"ab"});
  const Fed r = feed(s, {"xa", "c"});
  EXPECT_EQ(r.taken, (std::vector<std::string>{"x", "ac"}));
  EXPECT_FALSE(r.stopped);

  TextStream end({"ab"});
  const Fed e = feed(end, {"xa"});
  EXPECT_EQ(e.all, "xa");  // generation ended: the held "a" was no stop after all
}

TEST(TextStream, OverlappingStartsFindTheStop) {
  TextStream s({"aab"});
  const Fed r = feed(s, {"a", "a", "a", "b"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.all, "a");
}

TEST(TextStream, TheEarliestOfSeveralStopStringsWins) {
  TextStream s({"cd", "b"});
  const Fed r = feed(s, {"abcd"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.all, "a");
}

TEST(TextStream, ASplitCharacterComesOutWhole) {
  TextStream s({});
  // "é" is C3 A9, "€" is E2 82 AC.
  const Fed r = feed(s, {"x\xC3", "\xA9", "\xE2", "\x82", "\xAC!"});
  EXPECT_EQ(r.taken, (std::vector<std::string>{"x", "\xC3\xA9", "", "", "\xE2\x82\xAC!"}));
  EXPECT_EQ(r.all, "x\xC3\xA9\xE2\x82\xAC!");
}

TEST(TextStream, AnUnfinishedCharacterAtTheEndBecomesAReplacementCharacter) {
  TextStream s({});
  const Fed r = feed(s, {"a\xE2\x82"});
  EXPECT_EQ(r.all, "a\xEF\xBF\xBD");
  EXPECT_EQ(s.text(), r.all);
}

TEST(TextStream, EverythingTakenEqualsTheText) {
  TextStream s({"STOP", "\n\n"});
  const Fed r = feed(s, {"one ", "S", "T", "O", "x two\n", "three\n", "\nfour"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.all, "one STOx two\nthree");
  EXPECT_EQ(s.text(), r.all);
}

TEST(TextStream, EmptyStopStringsAreRejected) {
  EXPECT_THROW(TextStream({"ok", ""}), InvalidArgument);
}

}  // namespace
}  // namespace tessera
