// Turns the bytes of generated tokens into text that is safe to hand out while
// generation goes on:
//  - a stop string ends the text; the stop string itself and anything after
//    it never come out;
//  - bytes that could still grow into a stop string are held back until they
//    cannot (or generation ends without the stop completing);
//  - a UTF-8 character split across tokens comes out whole, once all its bytes
//    are there. At the very end, an unfinished character is replaced by
//    U+FFFD rather than handed out as half a character.
// Invariant: the concatenation of everything taken equals text() after finish().
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

class TextStream {
 public:
  // Stop strings must not be empty (InvalidArgument).
  explicit TextStream(std::vector<std::string> stop_strings);

  // Appends the bytes of one token. Returns true when a stop string has
  // completed: text() is then cut where it begins and later pushes are ignored.
  bool push(std::string_view piece);
  bool stopped() const { return stopped_; }

  // Text that became safe since the last take (may be empty). The view is
  // valid until the next push or finish.
  std::string_view take();
  // Ends the stream: releases everything still held back. Returns the rest.
  std::string_view finish();

  // All text so far (cut before a stop string once one has completed).
  const std::string& text() const { return text_; }

 private:
  // Bytes at the end of text_ that are a proper prefix of some stop string.
  size_t held_for_stop_prefix() const;

  std::vector<std::string> stops_;
  size_t longest_stop_ = 0;
  std::string text_;
  size_t taken_ = 0;      // bytes of text_ handed out
  size_t searched_ = 0;   // text_ before this offset holds no complete stop string
  bool stopped_ = false;
  bool finished_ = false;
};

}  // namespace tessera
