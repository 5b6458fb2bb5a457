// Stop strings over streamed text: StopStringMatcher takes the text deltas of a generation
// (e.g. StreamDecoder::Push results) and returns the part that is safe to show, holding
// back a tail that could still become the start of a stop string. Once a stop string has
// appeared, matched() is true and everything from the stop string on is dropped.
//
// Contract: the concatenation of every Push() result plus Flush() equals the full text cut
// at the first occurrence of any stop string (the whole text when none occurs). A stop
// string spread over several tokens is found. Works on bytes; with valid UTF-8 input the
// held-back tail starts at a character boundary (it equals a prefix of a stop string), so
// emitted pieces never split a character. Header-only; the Python Generator implements the
// same algorithm on str (python/litegen/generate/text.py).
#ifndef LITEGEN_CPP_ENGINE_STOP_STRINGS_H_
#define LITEGEN_CPP_ENGINE_STOP_STRINGS_H_

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace litegen {

class StopStringMatcher {
 public:
  // Empty strings are ignored.
  explicit StopStringMatcher(std::vector<std::string> stops = {}) {
    for (std::string& s : stops) {
      if (!s.empty()) stops_.push_back(std::move(s));
    }
  }

  bool empty() const { return stops_.empty(); }
  bool matched() const { return matched_; }
  // The stop string that matched (empty when none did).
  const std::string& matched_string() const { return matched_string_; }

  // Adds `delta`; returns the text now safe to emit (empty once matched).
  std::string Push(std::string_view delta) {
    if (matched_) return {};
    pending_.append(delta.data(), delta.size());
    // Everything emitted so far holds no stop string and no held-back partial match, so a
    // match can only start inside pending_.
    size_t first = std::string::npos;
    for (const std::string& stop : stops_) {
      const size_t at = pending_.find(stop);
      if (at != std::string::npos && (first == std::string::npos || at < first)) {
        first = at;
        matched_string_ = stop;
      }
    }
    if (first != std::string::npos) {
      matched_ = true;
      std::string out = pending_.substr(0, first);
      pending_.clear();
      return out;
    }
    const size_t hold = HeldBack();
    std::string out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return out;
  }

  // The held-back tail (no stop string followed it); then the matcher is empty again.
  std::string Flush() {
    std::string out = matched_ ? std::string() : std::move(pending_);
    pending_.clear();
    return out;
  }

 private:
  // Length of the longest suffix of pending_ that is a proper prefix of a stop string.
  size_t HeldBack() const {
    size_t best = 0;
    for (const std::string& stop : stops_) {
      const size_t longest = std::min(stop.size() - 1, pending_.size());
      for (size_t k = longest; k > best; --k) {
        if (std::string_view(pending_).substr(pending_.size() - k) ==
            std::string_view(stop).substr(0, k)) {
          best = k;
          break;
        }
      }
    }
    return best;
  }

  std::vector<std::string> stops_;
  std::string pending_;
  bool matched_ = false;
  std::string matched_string_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_STOP_STRINGS_H_
