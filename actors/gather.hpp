// Scatter-gather for operators' questions: ask many actors the same thing,
// collect what comes back within a timeout. A target that fails or times out
// is reported by index in `missing` instead of failing the whole question
// (an operator wants to see the rest of the cluster while one node hangs).
//
// Thread-safety: call from inside the asking actor; `done` runs there.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <caf/actor.hpp>

namespace collab {

// `Handle`: caf::actor or a typed handle that answers `xs...` with T.
template<class T, class Self, class Handle, class Timeout, class... Ts>
void gather(Self* self, std::vector<Handle> targets, Timeout timeout,
            std::function<void(std::vector<T>, std::vector<size_t>)> done,
            Ts... xs) {
  struct round {
    std::vector<std::optional<T>> answers;
    size_t left = 0;
    std::function<void(std::vector<T>, std::vector<size_t>)> done;
    void finish_one() {
      if (--left > 0)
        return;
      std::vector<T> got;
      std::vector<size_t> missing;
      for (size_t i = 0; i < answers.size(); ++i)
        if (answers[i])
          got.push_back(std::move(*answers[i]));
        else
          missing.push_back(i);
      done(std::move(got), std::move(missing));
    }
  };
  auto r = std::make_shared<round>();
  r->answers.resize(targets.size());
  r->left = targets.size();
  r->done = std::move(done);
  if (targets.empty()) {
    r->done({}, {});
    return;
  }
  for (size_t i = 0; i < targets.size(); ++i)
    self->request(targets[i], timeout, xs...)
      .then(
        [r, i](T& answer) {
          r->answers[i] = std::move(answer);
          r->finish_one();
        },
        [r](caf::error&) { r->finish_one(); });
}

} // namespace collab
