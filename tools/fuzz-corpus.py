#!/usr/bin/env python3
"""tools/fuzz-corpus.py: write the seed corpora of weft's fuzz targets.

    tools/fuzz-corpus.py OUTDIR

writes OUTDIR/<target>/<seed name> for each target of tests/fuzz/: a handful
of valid and edge-case inputs each, made here rather than downloaded, so
that libFuzzer starts from inputs that already reach deep into the code
(a chunked body with trailers, a gzip member, a redirect chain...) instead
of having to discover "HTTP/1.1 200" byte by byte. The Meson build runs
this at build time (tests/fuzz/meson.build); the files are rewritten on each
run, and libFuzzer adds the inputs it finds beside them.

Every seed is in the layout of tests/fuzz/fuzz_input.hpp:

    [flags] [k] [len_1] ... [len_k] [payload]

flags mean something different to each target (see the header of each
tests/fuzz/fuzz_<target>.cpp); the cuts are the lengths of the pieces the
payload is fed in, besides being fed whole.
"""

import gzip
import os
import sys
import zlib


def seed(flags, cuts, payload):
    """One fuzz input: the header, then the payload (bytes)."""
    if isinstance(payload, str):
        payload = payload.encode("latin-1")
    assert len(cuts) <= 15 and all(0 <= c <= 255 for c in cuts)
    return bytes([flags, len(cuts)] + list(cuts)) + payload


def response_parser_seeds():
    # flags: bit 0 HEAD request, bit 1 byte by byte, bits 2-3 limits.
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    chunked = ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\n")
    return {
        "content_length": seed(0, [5, 17, 1], head + "Content-Length: 5\r\n\r\nhello"),
        "chunked_trailers": seed(0, [20, 30, 3, 4], chunked),
        "chunked_byte_by_byte": seed(2, [], chunked),
        "close_delimited": seed(0, [9], "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil EOF"),
        "keep_alive_pipeline": seed(0, [38, 1], (head + "Content-Length: 2\r\n\r\nok") * 2 +
                                    "HTTP/1.1 204 No Content\r\n\r\n"),
        "interim_100_103": seed(0, [], "HTTP/1.1 100 Continue\r\n\r\n"
                                       "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
                                       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        "switching_protocols": seed(0, [10], "HTTP/1.1 101 Switching Protocols\r\n"
                                              "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00"),
        "head_request": seed(1, [], head + "Content-Length: 1000\r\n\r\n"),
        "not_modified": seed(0, [], "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"),
        "obs_fold": seed(0, [30], "HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 0\r\n\r\n"),
        "small_limits": seed(4, [8, 8], head + "X-" + "a" * 80 + ": v\r\n\r\n"),
        "tiny_limits_chunked": seed(8, [], "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                           "0000000001\r\na\r\n0\r\n\r\n"),
        "two_content_lengths": seed(0, [], head + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
        "length_and_chunked": seed(0, [], head + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                 "0\r\n\r\n"),
        "truncated_body": seed(0, [], head + "Content-Length: 10\r\n\r\nshort"),
        "bad_status": seed(0, [], "HTTP/1.1 2x0 Bad\r\n\r\n"),
        "empty": seed(0, [], ""),
    }


def decoder_text():
    return (b"weft fuzz seed: " + bytes(range(256)) + b"the quick brown fox " * 20)


def content_decoder_seeds():
    # flags: bit 0 deflate, bit 1 round trip, bits 2-3 output size
    # (1, 7, 512, 16384), bit 4 two gzip members / raw deflate, bits 5-7 level.
    text = decoder_text()
    gz = gzip.compress(text, mtime=0)
    zl = zlib.compress(text)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = raw.compress(text) + raw.flush()
    # A bomb: 1 MiB of zeros, far past the fuzz target's 64 KiB limit.
    bomb = gzip.compress(b"\0" * (1 << 20), 9, mtime=0)
    return {
        "gzip": seed(0b1100, [10, 1, 100], gz),
        "gzip_two_members": seed(0b1000, [30], gz + gzip.compress(b"second member", mtime=0)),
        "gzip_one_byte_out": seed(0b0000, [7], gz),
        "zlib": seed(0b1001, [2, 1], zl),
        "raw_deflate": seed(0b0101, [1, 1, 1], raw),
        "gzip_truncated": seed(0b1100, [], gz[:len(gz) // 2]),
        "gzip_trailing_garbage": seed(0b1100, [], gz + b"garbage"),
        "deflate_trailing_garbage": seed(0b1101, [], zl + b"x"),
        "gzip_bad_crc": seed(0b1100, [], gz[:-8] + b"\0\0\0\0" + gz[-4:]),
        "zlib_preset_dictionary": seed(0b1101, [], b"\x78\xbb\x00\x00\x00\x01"),
        "bomb": seed(0b1100, [50], bomb),
        "empty": seed(0, [], b""),
        "round_trip_gzip": seed(0b11000110, [5, 5], text),
        "round_trip_two_members": seed(0b10010110, [], text),
        "round_trip_zlib_stored": seed(0b00001011, [3], text),
        "round_trip_raw": seed(0b01111111, [], text),
    }


def stream_reader_seeds():
    # flags: bits 0-2 limit (1, 2, 3, 8, 16, 64, 1024, 65536), bit 3 one
    # byte per write. Payload: [p] [p operation bytes] [data].
    def program(*ops):
        return bytes([len(ops)] + list(ops))

    lines = b"line one\nline two\r\n\nno newline at the end"
    readline, read_until, read, read_exactly = 0, 1, 2, 3
    read_into, read_exactly_into = 4, 5
    return {
        "readlines": seed(7, [3, 9, 1], program() + lines),
        "readlines_byte_by_byte": seed(7 | 8, [], program() + lines),
        "readline_over_limit": seed(3, [4, 4], program() + b"short\n" + b"x" * 40 + b"\nend\n"),
        "read_until_crlf": seed(7, [5, 2], program(read_until, 2, ord("\r"), ord("\n"), readline) + lines),
        "read_until_over_limit": seed(4, [10], program(read_until, 1, ord(";"), read, 200) +
                                  b"0123456789abcdefghij;rest"),
        "read_exactly": seed(7, [1, 2, 3], program(read_exactly, 4, read_exactly_into, 3, read_into, 10,
                                                   read_exactly, 200) + lines),
        "reads": seed(6, [7, 7, 7], program(read, 3, read, 0, read_into, 255) + lines),
        "read_until_eof": seed(7, [], program(read_until, 3, ord("E"), ord("N"), ord("D")) + b"no end"),
        "empty": seed(0, [], b""),
    }


def url_seeds():
    # flags: bits 0-2 first status (301, 302, 303, 307, 308, 300, 304, 200),
    # bits 3-4 max_redirects (0, 1, 3, 10), bits 5-7 method
    # (GET, POST, HEAD, post, PUT, DELETE, OPTIONS, "").
    def chain(flags, *urls):
        return seed(flags, [len(u) for u in urls[:-1]], "".join(urls))

    return {
        "plain": seed(0, [], "http://example.com/"),
        "full": seed(0, [], "HTTP://User:P%40ss@Example.COM:8080/a/./b/../c%20d?q=1&r=%zz#frag"),
        "ipv6": seed(0, [], "https://[2001:DB8::1]:443/x?y"),
        "unencoded": seed(0, [], "http://h/a b\"<>\\^`{|}\x7f\xc3\xa9?q=\x00#f#g"),
        "bad_port": seed(0, [], "http://h:65536/"),
        "not_http": seed(0, [], "ftp://h/x"),
        "chain_relative": chain(0b00011000, "http://a.example/x/y", "../z?k=v", "//b.example:81/p",
                                "/abs", "rel#frag", "?only-query"),
        "chain_post_302": chain(0b00111001, "https://u:p@a/", "https://b/", "http:same-scheme",
                                "HTTPS://A/upper"),
        "chain_head_303": chain(0b01010010, "http://a/", "/one", "/two", "/three"),
        "chain_too_many": chain(0b00001011, "http://a/", "/1", "/2", "/3"),
        "chain_bad_location": chain(0b00011100, "http://a/", "mailto:x@y", "http://[::1", "http://h:0/"),
        "query_params": chain(0, "http://a/?x", "key one", "v&=#%", "\xff", ""),
        "dot_segments": seed(0, [], "http://a/b/c/./../../g/../.."),
    }


TARGETS = {
    "response_parser": response_parser_seeds,
    "content_decoder": content_decoder_seeds,
    "stream_reader": stream_reader_seeds,
    "url": url_seeds,
}


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: fuzz-corpus.py OUTDIR\n")
        return 2
    for target, make in TARGETS.items():
        directory = os.path.join(argv[1], target)
        os.makedirs(directory, exist_ok=True)
        for name, data in make().items():
            with open(os.path.join(directory, "seed-" + name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
