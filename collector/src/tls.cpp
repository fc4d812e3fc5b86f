#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cmkwatch::collector::internal {
namespace {

// OpenSSL's error queue as one line ("...: reason; reason"), emptied.
std::string DrainErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no reason given" : out;
}

}  // namespace

Result<std::unique_ptr<TlsContext>> TlsContext::Load(const std::string& cert_file, const std::string& key_file) {
  for (const std::string* f : {&cert_file, &key_file}) {
    struct stat st {};
    if (::stat(f->c_str(), &st) != 0) return Status::NotFound(*f + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(*f + " is not a regular file");
  }
  struct stat key_st {};
  if (::stat(key_file.c_str(), &key_st) == 0 && (key_st.st_mode & S_IRWXO) != 0) {
    return Status::InvalidArgument("TLS key " + key_file + " is readable by others (chmod 600 or 640 it)");
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Status::Internal("SSL_CTX_new: " + DrainErrors());
  std::unique_ptr<TlsContext> out(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // No renegotiation (a client-driven CPU sink, and nothing here needs it);
  // the server's cipher order rather than the client's.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle keep-alive connections give their read/write buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return Status::InvalidArgument("TLS certificate " + cert_file + ": " + DrainErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status::InvalidArgument("TLS key " + key_file + ": " + DrainErrors());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("TLS key " + key_file + " does not match the certificate " + cert_file);
  }
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Result<std::unique_ptr<TlsSession>> TlsSession::Accept(const TlsContext& context) {
  ERR_clear_error();
  SSL* ssl = SSL_new(context.get());
  if (ssl == nullptr) return Status::Internal("SSL_new: " + DrainErrors());
  std::unique_ptr<TlsSession> out(new TlsSession(ssl));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* wr = BIO_new(BIO_s_mem());
  if (in == nullptr || wr == nullptr) {
    BIO_free(in);
    BIO_free(wr);
    return Status::Internal("BIO_new: " + DrainErrors());
  }
  // An empty input BIO means "wait for more", not end of stream.
  BIO_set_mem_eof_return(in, -1);
  SSL_set_bio(ssl, in, wr);  // the SSL owns both from here
  SSL_set_accept_state(ssl);
  return out;
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

void TlsSession::FeedCiphertext(std::string_view bytes) {
  while (!bytes.empty()) {
    const int n = BIO_write(SSL_get_rbio(ssl_), bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 20)));
    if (n <= 0) return;  // a memory BIO fails only out of memory; the session then errors
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

TlsSession::ReadResult TlsSession::Read(std::string& plain, size_t max) {
  ERR_clear_error();
  char buf[16 * 1024];
  // Before any application data, drive the handshake explicitly so that
  // its records go out even when the caller wants no plaintext yet.
  if (!SSL_is_init_finished(ssl_)) {
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return ReadResult::kOk;
      error_ = "TLS handshake: " + DrainErrors();
      return ReadResult::kError;
    }
  }
  size_t got = 0;
  while (got < max) {
    const int want = static_cast<int>(std::min(sizeof buf, max - got));
    const int n = SSL_read(ssl_, buf, want);
    if (n > 0) {
      plain.append(buf, static_cast<size_t>(n));
      got += static_cast<size_t>(n);
      continue;
    }
    const int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return ReadResult::kOk;
    if (e == SSL_ERROR_ZERO_RETURN) return ReadResult::kClosed;
    error_ = "TLS read: " + DrainErrors();
    return ReadResult::kError;
  }
  return ReadResult::kOk;
}

Status TlsSession::Write(std::string_view plain) {
  ERR_clear_error();
  while (!plain.empty()) {
    const int n = SSL_write(ssl_, plain.data(), static_cast<int>(std::min<size_t>(plain.size(), 1 << 20)));
    if (n <= 0) {
      error_ = "TLS write: " + DrainErrors();
      return Status::IoError(error_);
    }
    plain.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

void TlsSession::Shutdown() {
  ERR_clear_error();
  if (SSL_is_init_finished(ssl_)) (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

void TlsSession::TakeCiphertext(std::string& out) {
  BIO* wr = SSL_get_wbio(ssl_);
  char buf[16 * 1024];
  for (;;) {
    const int n = BIO_read(wr, buf, sizeof buf);
    if (n <= 0) return;
    out.append(buf, static_cast<size_t>(n));
  }
}

bool TlsSession::handshake_done() const { return SSL_is_init_finished(ssl_) == 1; }

}  // namespace cmkwatch::collector::internal
