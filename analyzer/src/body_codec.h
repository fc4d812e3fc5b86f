// How the timeline stores an event's canonical bytes (events.codec):
//
//   0  identity
//   1  zstd frame, no dictionary
//   2  zstd frame made with a dictionary; the frame names the dictionary's
//      id, and the dictionary itself is a row of the timeline's
//      `dictionaries` table, so the file alone always decodes.
//
// Why a dictionary: one event is 1-2 KB of JSON and normalized fields that
// look much like its neighbours'. Compressed alone, zlib or zstd finds
// little to reuse (about 1.8x); against a dictionary trained on earlier
// events the same bytes shrink several times further, which is what makes
// "every raw record kept" affordable. zstd also costs a fraction of zlib's
// CPU at these sizes.
//
// Training: the first kTrainSamples bodies compressed without a dictionary
// are also kept (bounded by kMaxSampleBytes); once there are enough, the
// timeline asks TrainDictionary() for one, stores it, and hands it back
// with Adopt() only after that row is committed, so no stored body ever
// names a dictionary the file does not hold.
//
// Not thread-safe; one per Timeline. A second thread may compress beside
// it with a Context of its own, but only while CanShare().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/common/status.h"

namespace cmkwatch::analyzer::internal {

inline constexpr int64_t kCodecIdentity = 0;
inline constexpr int64_t kCodecZstd = 1;
inline constexpr int64_t kCodecZstdDict = 2;

class BodyCodec {
 public:
  static constexpr size_t kTrainSamples = 2000;
  static constexpr size_t kMaxSampleBytes = size_t{8} << 20;
  static constexpr size_t kDictionaryBytes = 64 << 10;

  // Reads a stored dictionary by its id, for decoding old bodies.
  using Loader = std::function<Result<std::string>(uint32_t id)>;

  BodyCodec();
  ~BodyCodec();
  BodyCodec(const BodyCodec&) = delete;
  BodyCodec& operator=(const BodyCodec&) = delete;

  // compress=false stores identity bodies. level: zstd's 1..19.
  Status Init(bool compress, int level, Loader loader);

  // Compresses `in` into `out`; returns the codec used.
  Result<int64_t> Compress(std::string_view in, std::string& out);

  // A zstd context of another thread's, for CompressWith.
  class Context {
   public:
    Context();
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

   private:
    friend class BodyCodec;
    struct Impl;
    std::unique_ptr<Impl> impl_;
  };
  // True when CompressWith may run on other threads alongside Compress:
  // once a dictionary is in use (or compression is off), compressing only
  // reads the codec; before, each body may become a training sample.
  // Stays true until the next Adopt(), which must not run meanwhile.
  bool CanShare() const;
  // Compress with `ctx`, only while CanShare(); same output as Compress.
  Result<int64_t> CompressWith(Context& ctx, std::string_view in, std::string& out) const;

  // True when samples enough for a dictionary are collected and none is in use.
  bool WantsDictionary() const;
  // A dictionary trained on the collected samples (which are then dropped),
  // with its id (non-zero) in *id.
  Result<std::string> TrainDictionary(uint32_t* id);
  // Compresses with `dict` from now on (after it is durably stored).
  Status Adopt(std::string_view dict);

  // Decodes a stored body back to exactly `size` bytes (size itself bounded
  // by `max_size` before anything is allocated).
  Result<std::string> Decode(int64_t codec, int64_t size, std::string_view body, size_t max_size);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmkwatch::analyzer::internal
