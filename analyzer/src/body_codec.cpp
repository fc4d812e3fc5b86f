#include "body_codec.h"

#include <zdict.h>
#include <zstd.h>

namespace cmkwatch::analyzer::internal {
namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
struct CDictFree {
  void operator()(ZSTD_CDict* d) const { ZSTD_freeCDict(d); }
};
struct DDictFree {
  void operator()(ZSTD_DDict* d) const { ZSTD_freeDDict(d); }
};

// Dictionaries a file may hold, at most (one is trained per fresh file; the
// cap bounds the decode cache against a crafted file).
constexpr size_t kMaxDictionaries = 64;

}  // namespace

struct BodyCodec::Impl {
  bool compress = false;
  int level = 1;
  Loader loader;
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx;
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx;
  std::unique_ptr<ZSTD_CDict, CDictFree> cdict;  // the dictionary compression uses now
  std::map<uint32_t, std::unique_ptr<ZSTD_DDict, DDictFree>> ddicts;
  // Training samples: concatenated bodies and their sizes.
  std::string samples;
  std::vector<size_t> sample_sizes;
};

struct BodyCodec::Context::Impl {
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx{ZSTD_createCCtx()};
};

BodyCodec::Context::Context() : impl_(std::make_unique<Impl>()) {}
BodyCodec::Context::~Context() = default;

BodyCodec::BodyCodec() : impl_(std::make_unique<Impl>()) {}
BodyCodec::~BodyCodec() = default;

Status BodyCodec::Init(bool compress, int level, Loader loader) {
  if (level < 1 || level > 19) return Status::InvalidArgument("compression_level must be 1..19");
  impl_->compress = compress;
  impl_->level = level;
  impl_->loader = std::move(loader);
  impl_->cctx.reset(ZSTD_createCCtx());
  impl_->dctx.reset(ZSTD_createDCtx());
  if (!impl_->cctx || !impl_->dctx) return Status::Internal("zstd: out of memory creating contexts");
  return Status::Ok();
}

namespace {

// Compresses with `cctx` against `cdict` (null: none, at `level`), or copies
// when compression is off: the one zstd call behind Compress and
// CompressWith.
Result<int64_t> CompressOnce(bool compress, ZSTD_CCtx* cctx, const ZSTD_CDict* cdict, int level, std::string_view in,
                             std::string& out) {
  if (!compress) {
    out.assign(in);
    return kCodecIdentity;
  }
  if (cctx == nullptr) return Status::Internal("zstd: out of memory creating a context");
  out.resize(ZSTD_compressBound(in.size()));
  const size_t n = cdict != nullptr
                       ? ZSTD_compress_usingCDict(cctx, out.data(), out.size(), in.data(), in.size(), cdict)
                       : ZSTD_compressCCtx(cctx, out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return cdict != nullptr ? kCodecZstdDict : kCodecZstd;
}

}  // namespace

Result<int64_t> BodyCodec::Compress(std::string_view in, std::string& out) {
  Impl& m = *impl_;
  auto codec = CompressOnce(m.compress, m.cctx.get(), m.cdict.get(), m.level, in, out);
  if (codec.ok() && *codec == kCodecZstd && m.sample_sizes.size() < kTrainSamples &&
      m.samples.size() + in.size() <= kMaxSampleBytes) {
    m.samples.append(in);
    m.sample_sizes.push_back(in.size());
  }
  return codec;
}

bool BodyCodec::CanShare() const { return !impl_->compress || impl_->cdict != nullptr; }

Result<int64_t> BodyCodec::CompressWith(Context& ctx, std::string_view in, std::string& out) const {
  const Impl& m = *impl_;
  if (!CanShare()) return Status::Internal("zstd: a second thread compressed before the dictionary was in use");
  // The CDict is only read here: zstd allows sharing one among threads.
  return CompressOnce(m.compress, ctx.impl_->cctx.get(), m.cdict.get(), m.level, in, out);
}

bool BodyCodec::WantsDictionary() const {
  const Impl& m = *impl_;
  return m.compress && !m.cdict && m.sample_sizes.size() >= kTrainSamples;
}

Result<std::string> BodyCodec::TrainDictionary(uint32_t* id) {
  Impl& m = *impl_;
  std::string dict(kDictionaryBytes, '\0');
  const size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), m.samples.data(), m.sample_sizes.data(),
                                         static_cast<unsigned>(m.sample_sizes.size()));
  m.samples.clear();
  m.samples.shrink_to_fit();
  m.sample_sizes.clear();
  if (ZDICT_isError(n)) {
    // Too little variety to learn from: go on without a dictionary, and
    // collect a fresh set of samples for another try.
    return Status::Unsupported(std::string("zstd dictionary training: ") + ZDICT_getErrorName(n));
  }
  dict.resize(n);
  *id = ZDICT_getDictID(dict.data(), dict.size());
  if (*id == 0) return Status::Internal("zstd trained a dictionary without an id");
  return dict;
}

Status BodyCodec::Adopt(std::string_view dict) {
  Impl& m = *impl_;
  m.cdict.reset(ZSTD_createCDict(dict.data(), dict.size(), m.level));
  if (!m.cdict) return Status::Internal("zstd: cannot load the dictionary for compression");
  return Status::Ok();
}

Result<std::string> BodyCodec::Decode(int64_t codec, int64_t size, std::string_view body, size_t max_size) {
  Impl& m = *impl_;
  if (size < 0 || static_cast<uint64_t>(size) > max_size) {
    return Status::Corruption("recorded body size " + std::to_string(size) + " is impossible");
  }
  if (codec == kCodecIdentity) {
    if (size != static_cast<int64_t>(body.size())) {
      return Status::Corruption("body is " + std::to_string(body.size()) + " bytes, recorded as " +
                                std::to_string(size));
    }
    return std::string(body);
  }
  if (codec != kCodecZstd && codec != kCodecZstdDict) {
    return Status::Corruption("unknown body codec " + std::to_string(codec));
  }
  std::string out(static_cast<size_t>(size), '\0');
  size_t n = 0;
  if (codec == kCodecZstd) {
    n = ZSTD_decompressDCtx(m.dctx.get(), out.data(), out.size(), body.data(), body.size());
  } else {
    const uint32_t id = ZSTD_getDictID_fromFrame(body.data(), body.size());
    if (id == 0) return Status::Corruption("body names no dictionary");
    auto it = m.ddicts.find(id);
    if (it == m.ddicts.end()) {
      if (m.ddicts.size() >= kMaxDictionaries) m.ddicts.clear();
      if (!m.loader) return Status::Internal("no dictionary loader");
      auto dict = m.loader(id);
      if (!dict.ok()) return dict.status();
      std::unique_ptr<ZSTD_DDict, DDictFree> d(ZSTD_createDDict(dict->data(), dict->size()));
      if (!d) return Status::Corruption("dictionary " + std::to_string(id) + " does not load");
      it = m.ddicts.emplace(id, std::move(d)).first;
    }
    n = ZSTD_decompress_usingDDict(m.dctx.get(), out.data(), out.size(), body.data(), body.size(), it->second.get());
  }
  if (ZSTD_isError(n)) {
    return Status::Corruption(std::string("body does not decompress: ") + ZSTD_getErrorName(n));
  }
  if (n != out.size()) {
    return Status::Corruption("body decompresses to " + std::to_string(n) + " bytes, recorded as " +
                              std::to_string(size));
  }
  return out;
}

}  // namespace cmkwatch::analyzer::internal
