#include "engine/text_stream.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace tessera {

TextStream::TextStream(std::vector<std::string> stop_strings) : stops_(std::move(stop_strings)) {
  for (const auto& s : stops_) {
    if (s.empty()) raise<InvalidArgument>("stop strings must not be empty");
    longest_stop_ = std::max(longest_stop_, s.size());
  }
}

bool TextStream::push(std::string_view piece) {
  if (stopped_ || finished_) return stopped_;
  text_.append(piece);
  // A stop string completed by this piece starts at most longest-1 bytes
  // before the old end; the earliest occurrence over all stop strings wins.
  const size_t from = searched_ > longest_stop_ - 1 ? searched_ - (longest_stop_ - 1) : 0;
  size_t cut = std::string::npos;
  for (const auto& s : stops_) cut = std::min(cut, text_.find(s, from));
  searched_ = text_.size();
  if (cut != std::string::npos) {
    text_.resize(cut);
    stopped_ = true;
  }
  return stopped_;
}

size_t TextStream::held_for_stop_prefix() const {
  size_t hold = 0;
  for (const auto& s : stops_) {
    for (size_t len = std::min(s.size() - 1, text_.size()); len > hold; --len) {
      if (text_.compare(text_.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}

std::string_view TextStream::take() {
  if (finished_) return {};
  // After a stop nothing can grow any more: only the UTF-8 rule holds bytes.
  const size_t held = stopped_ ? 0 : held_for_stop_prefix();
  const std::string_view candidate = std::string_view(text_).substr(0, text_.size() - held);
  const size_t safe = std::max(taken_, utf8_complete_prefix(candidate));
  const std::string_view out = std::string_view(text_).substr(taken_, safe - taken_);
  taken_ = safe;
  return out;
}

std::string_view TextStream::finish() {
  if (finished_) return {};
  const size_t complete = utf8_complete_prefix(text_);
  if (complete < text_.size() && complete >= taken_) {
    text_.resize(complete);
    text_ += "\xEF\xBF\xBD";  // U+FFFD for the unfinished character
  }
  finished_ = true;
  const std::string_view out = std::string_view(text_).substr(taken_);
  taken_ = text_.size();
  return out;
}

}  // namespace tessera
