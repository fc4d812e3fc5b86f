// Server-side TLS for the collector's Event Grid endpoint (OpenSSL), over
// memory BIOs. Private to the collector library.
//
// Why memory BIOs rather than SSL_set_fd: the push server does its own
// non-blocking socket I/O (recv, and send with MSG_NOSIGNAL so that a peer
// that hung up cannot SIGPIPE the collector), and one code path then serves
// both plain HTTP and HTTPS; OpenSSL only turns ciphertext into plaintext
// and back. A memory BIO never blocks, so SSL_write never asks to wait, and
// the session's buffers hold only what the server fed it (bounded by what
// it reads per step).
//
// Ownership: TlsContext owns the SSL_CTX (certificate chain and key); each
// TlsSession owns one SSL and its two BIOs and holds a reference on the
// context (OpenSSL's own count), so a session may outlive its TlsContext
// object. Neither is thread-safe; both are used from the source's thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cmkwatch/common/status.h"

// OpenSSL's own type names, declared here so that the header does not pull
// <openssl/ssl.h> into every user.
struct ssl_ctx_st;
struct ssl_st;

namespace cmkwatch::collector::internal {

class TlsContext {
 public:
  // Loads a PEM certificate chain (leaf first) and its PEM private key and
  // checks that they match. TLS 1.2 is the minimum (Event Grid speaks 1.2
  // and 1.3). The key file must not be readable by others (group-readable
  // is allowed: Debian's ssl-cert group convention).
  //   NotFound         a file cannot be opened
  //   InvalidArgument  not PEM, key and certificate do not match, key
  //                    world-readable
  // Messages name the files and OpenSSL's reason, never key material.
  static Result<std::unique_ptr<TlsContext>> Load(const std::string& cert_file, const std::string& key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* get() const { return ctx_; }

 private:
  explicit TlsContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

// One server-side TLS connection.
//
//   FeedCiphertext(bytes read from the socket)
//   Read(&plain, max)     handshake as needed, then decrypt
//   Write(plain)          encrypt
//   TakeCiphertext(&out)  what must be sent to the socket (handshake
//                         records included): call after each of the above
class TlsSession {
 public:
  static Result<std::unique_ptr<TlsSession>> Accept(const TlsContext& context);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  void FeedCiphertext(std::string_view bytes);

  enum class ReadResult {
    kOk,      // whatever could be decrypted was appended (maybe nothing yet)
    kClosed,  // the peer sent close_notify
    kError,   // handshake or record failure: drop the connection (see error())
  };
  // Appends at most `max` plaintext bytes to `plain`.
  ReadResult Read(std::string& plain, size_t max);
  // Encrypts all of `plain`. Fails only on a broken session.
  Status Write(std::string_view plain);
  // Queues close_notify.
  void Shutdown();
  void TakeCiphertext(std::string& out);

  bool handshake_done() const;
  // OpenSSL's reason for the last kError / failed Write.
  const std::string& error() const { return error_; }

 private:
  explicit TlsSession(ssl_st* ssl) : ssl_(ssl) {}
  ssl_st* ssl_;
  std::string error_;
};

}  // namespace cmkwatch::collector::internal
