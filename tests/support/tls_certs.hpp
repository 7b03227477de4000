// A throwaway PKI for the TLS tests, made at test time with OpenSSL's C API
// (P-256 keys, SHA-256 signatures) and written as PEM files to a fresh
// directory under /tmp that the destructor removes:
//
//   weft_test::TlsCerts certs;          // throws std::runtime_error on failure
//   weft::TlsOptions server;
//   server.certfile = certs.server.cert;
//   server.keyfile = certs.server.key;
//   weft::TlsOptions client;
//   client.cafile = certs.ca.cert;      // trust the test CA only
//
// What it holds (each a CertFiles: a certificate and its key):
//   ca           the trusted test CA (CA:TRUE), the one cafile names
//   server       a server certificate signed by `ca` for IP:127.0.0.1 and
//                DNS:localhost, valid from a day ago for a year
//   expired      as `server`, but its notAfter passed yesterday
//   wrong_host   signed by `ca`, for DNS:wrong.example only
//   ip_only      signed by `ca`, for IP:127.0.0.1 only
//   dns_only     signed by `ca`, for DNS:localhost only
//   other_ca     a second CA, never trusted by the tests
//   unknown_ca   as `server`, but signed by `other_ca` (the file holds the
//                leaf alone, so a client cannot find its issuer)
//   self_signed  a leaf for IP:127.0.0.1 and DNS:localhost signed by itself
//   client       a client certificate (clientAuth) signed by `ca`
//
// Generating everything takes a few milliseconds (EC keys), so suites may
// make one TlsCerts per test or one for the whole suite.
#pragma once

#include <ftw.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace weft_test {

// A certificate and its private key, as the paths of two PEM files.
struct CertFiles {
  std::string cert;
  std::string key;
};

class TlsCerts {
 public:
  TlsCerts() {
    char pattern[] = "/tmp/weft-tls-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    dir = pattern;
    ::chmod(dir.c_str(), 0755);  // nginx workers may run as another user
    try {
      generate();
    } catch (...) {
      remove_dir();
      throw;
    }
  }

  TlsCerts(const TlsCerts&) = delete;
  TlsCerts& operator=(const TlsCerts&) = delete;

  ~TlsCerts() { remove_dir(); }

  std::string dir;
  CertFiles ca;
  CertFiles server;
  CertFiles expired;
  CertFiles wrong_host;
  CertFiles ip_only;
  CertFiles dns_only;
  CertFiles other_ca;
  CertFiles unknown_ca;
  CertFiles self_signed;
  CertFiles client;

 private:
  // An EVP_PKEY or X509 with its free function, freed at scope exit.
  struct Key {
    EVP_PKEY* p = nullptr;
    Key() = default;
    Key(const Key&) = delete;
    Key& operator=(const Key&) = delete;
    ~Key() { EVP_PKEY_free(p); }
  };
  struct Cert {
    X509* p = nullptr;
    Cert() = default;
    Cert(const Cert&) = delete;
    Cert& operator=(const Cert&) = delete;
    ~Cert() { X509_free(p); }
  };

  enum class Kind { kCa, kServer, kClient, kSelfSigned };

  static constexpr long kDay = 24L * 60 * 60;

  [[noreturn]] static void fail(const std::string& what) {
    std::string text;
    unsigned long code;
    while ((code = ERR_get_error()) != 0) {
      char line[256];
      ERR_error_string_n(code, line, sizeof line);
      text += std::string("; ") + line;
    }
    throw std::runtime_error("weft_test::TlsCerts: " + what + text);
  }

  static void make_key(Key& key) {
    // EVP_EC_gen("P-256"), without the macro's C cast.
    key.p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (key.p == nullptr) fail("EC P-256 key generation failed");
  }

  static void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
    if (ext == nullptr) fail(std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
    const int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    if (ok != 1) fail(std::string("X509_add_ext ") + OBJ_nid2sn(nid));
  }

  // A certificate for `key` named CN=`cn`, valid from `from` to `to`
  // seconds from now, signed by (issuer, issuer_key), or by itself when
  // issuer is null; `san` is a subjectAltName value ("" for none).
  static void make_cert(Cert& out, Kind kind, const char* cn, long serial, long from, long to, const char* san,
                        EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
    out.p = X509_new();
    X509* cert = out.p;
    if (cert == nullptr) fail("X509_new");
    if (X509_set_version(cert, 2) != 1) fail("X509_set_version");  // v3
    if (ASN1_INTEGER_set(X509_get_serialNumber(cert), serial) != 1) fail("serial");
    if (X509_gmtime_adj(X509_getm_notBefore(cert), from) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(cert), to) == nullptr) {
      fail("validity");
    }
    if (X509_set_pubkey(cert, key) != 1) fail("X509_set_pubkey");
    X509_NAME* name = X509_get_subject_name(cert);
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("weft tests"), -1,
                                   -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1,
                                   0) != 1) {
      fail("subject name");
    }
    X509* signer = issuer != nullptr ? issuer : cert;
    if (X509_set_issuer_name(cert, X509_get_subject_name(signer)) != 1) fail("X509_set_issuer_name");

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, signer, cert, nullptr, nullptr, 0);
    switch (kind) {
      case Kind::kCa:
        add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(cert, &ctx, NID_subject_key_identifier, "hash");
        break;
      case Kind::kServer:
        add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature");
        add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth");
        add_ext(cert, &ctx, NID_subject_key_identifier, "hash");
        add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always");
        break;
      case Kind::kClient:
        add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature");
        add_ext(cert, &ctx, NID_ext_key_usage, "clientAuth");
        add_ext(cert, &ctx, NID_subject_key_identifier, "hash");
        add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always");
        break;
      case Kind::kSelfSigned:
        // As `openssl req -x509` makes for a quick server certificate: no
        // key usage, so that OpenSSL sees it as self-signed.
        add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth");
        break;
    }
    if (san[0] != '\0') add_ext(cert, &ctx, NID_subject_alt_name, san);
    if (X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) fail("X509_sign");
  }

  // Writes cert and key as two PEM files named <name>.pem and <name>.key.
  CertFiles write(const std::string& name, X509* cert, EVP_PKEY* key) const {
    CertFiles files;
    files.cert = dir + "/" + name + ".pem";
    files.key = dir + "/" + name + ".key";
    std::FILE* f = std::fopen(files.cert.c_str(), "w");
    if (f == nullptr) throw std::runtime_error("cannot write " + files.cert + ": " + std::strerror(errno));
    const bool cert_ok = PEM_write_X509(f, cert) == 1;
    if (std::fclose(f) != 0 || !cert_ok) fail("PEM_write_X509 " + files.cert);
    f = std::fopen(files.key.c_str(), "w");
    if (f == nullptr) throw std::runtime_error("cannot write " + files.key + ": " + std::strerror(errno));
    const bool key_ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (std::fclose(f) != 0 || !key_ok) fail("PEM_write_PrivateKey " + files.key);
    ::chmod(files.cert.c_str(), 0644);
    ::chmod(files.key.c_str(), 0644);  // a throwaway key; nginx's workers read it
    return files;
  }

  void generate() {
    const char* kLocal = "IP:127.0.0.1,DNS:localhost";
    Key ca_key;
    Cert ca_cert;
    make_key(ca_key);
    make_cert(ca_cert, Kind::kCa, "weft test CA", 1, -kDay, 3650 * kDay, "", ca_key.p, nullptr, nullptr);
    ca = write("ca", ca_cert.p, ca_key.p);

    Key other_key;
    Cert other_cert;
    make_key(other_key);
    make_cert(other_cert, Kind::kCa, "weft untrusted CA", 2, -kDay, 3650 * kDay, "", other_key.p, nullptr,
              nullptr);
    other_ca = write("other_ca", other_cert.p, other_key.p);

    struct Leaf {
      const char* name;
      Kind kind;
      const char* san;
      long from;
      long to;
      bool by_other;
      bool self;
      CertFiles* out;
    };
    const Leaf leaves[] = {
        {"server", Kind::kServer, kLocal, -kDay, 365 * kDay, false, false, &server},
        {"expired", Kind::kServer, kLocal, -30 * kDay, -kDay, false, false, &expired},
        {"wrong_host", Kind::kServer, "DNS:wrong.example", -kDay, 365 * kDay, false, false, &wrong_host},
        {"ip_only", Kind::kServer, "IP:127.0.0.1", -kDay, 365 * kDay, false, false, &ip_only},
        {"dns_only", Kind::kServer, "DNS:localhost", -kDay, 365 * kDay, false, false, &dns_only},
        {"unknown_ca", Kind::kServer, kLocal, -kDay, 365 * kDay, true, false, &unknown_ca},
        {"self_signed", Kind::kSelfSigned, kLocal, -kDay, 365 * kDay, false, true, &self_signed},
        {"client", Kind::kClient, "DNS:client.weft.test", -kDay, 365 * kDay, false, false, &client},
    };
    long serial = 100;
    for (const Leaf& leaf : leaves) {
      Key key;
      Cert cert;
      make_key(key);
      X509* issuer = leaf.self ? nullptr : leaf.by_other ? other_cert.p : ca_cert.p;
      EVP_PKEY* issuer_key = leaf.self ? nullptr : leaf.by_other ? other_key.p : ca_key.p;
      const std::string cn = std::string("weft test ") + leaf.name;
      make_cert(cert, leaf.kind, cn.c_str(), serial++, leaf.from, leaf.to, leaf.san, key.p, issuer, issuer_key);
      *leaf.out = write(leaf.name, cert.p, key.p);
    }
  }

  static int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }

  void remove_dir() noexcept {
    if (dir.empty()) return;
    ::nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    dir.clear();
  }
};

}  // namespace weft_test
