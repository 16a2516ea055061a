/*
 * moonproxy.codec: hashes and encodings for Lua scripts, in C.
 *
 * The names and results follow HAProxy's converters of the same names, so a script computes
 * what a configuration line does (`crc32`, `crc32c`, `xxh32`, `xxh64`, `base64`, `b64dec`,
 * `ub64enc`, `ub64dec`, `hex`):
 *
 *   codec.crc32(s [, crc])      CRC-32 (IEEE 802.3, zlib's), chained from crc (default 0)
 *   codec.crc32c(s [, crc])     CRC-32C (Castagnoli), chained the same way
 *   codec.xxh32(s [, seed])     XXH32, an unsigned 32-bit integer
 *   codec.xxh64(s [, seed])     XXH64, a 64-bit integer (Lua integers are signed: it wraps)
 *   codec.base64(s)             base64 with padding (RFC 4648 section 4)
 *   codec.b64dec(s)             its inverse; nil, message on invalid input
 *   codec.ub64enc(s)            base64url without padding (RFC 4648 section 5)
 *   codec.ub64dec(s)            its inverse (padding optional); nil, message on invalid input
 *   codec.hex(s)                upper-case hexadecimal, two digits per byte
 *   codec.unhex(s)              its inverse (either case); nil, message on invalid input
 *
 * This file is linked into moonproxy (build.rs) and opened through package.preload
 * (src/lua/modules.rs). It uses only the public Lua API; errors are raised with the luaL_*
 * functions (this is C: longjmp crosses only C frames), and every output is built in a
 * luaL_Buffer, so a memory error never leaks a block.
 */
#define _POSIX_C_SOURCE 200809L /* pthread_once under -std=c99 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

/* ---- CRC-32 and CRC-32C: reflected, table driven (one table per polynomial) ------------ */

static uint32_t crc32_table[256];
static uint32_t crc32c_table[256];
static pthread_once_t crc_tables_once = PTHREAD_ONCE_INIT;

static void fill_crc_table(uint32_t *table, uint32_t poly) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        table[i] = c;
    }
}

static void init_crc_tables(void) {
    fill_crc_table(crc32_table, 0xEDB88320u);
    fill_crc_table(crc32c_table, 0x82F63B78u);
}

static uint32_t crc_update(const uint32_t *table, uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
    while (n--)
        crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static int crc_common(lua_State *L, const uint32_t *table) {
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    uint32_t crc = (uint32_t)luaL_optinteger(L, 2, 0);
    lua_pushinteger(L, (lua_Integer)crc_update(table, crc, s, n));
    return 1;
}

static int l_crc32(lua_State *L) { return crc_common(L, crc32_table); }
static int l_crc32c(lua_State *L) { return crc_common(L, crc32c_table); }

/* ---- xxHash (XXH32 and XXH64, per the xxHash specification) ---------------------------- */

static uint32_t read32le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t read64le(const unsigned char *p) {
    return (uint64_t)read32le(p) | (uint64_t)read32le(p + 4) << 32;
}

static uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

#define P32_1 2654435761u
#define P32_2 2246822519u
#define P32_3 3266489917u
#define P32_4 668265263u
#define P32_5 374761393u

static uint32_t xxh32_round(uint32_t acc, uint32_t lane) {
    return rotl32(acc + lane * P32_2, 13) * P32_1;
}

static uint32_t xxh32(const unsigned char *p, size_t len, uint32_t seed) {
    const unsigned char *end = p + len;
    uint32_t h;
    if (len >= 16) {
        uint32_t v1 = seed + P32_1 + P32_2, v2 = seed + P32_2, v3 = seed, v4 = seed - P32_1;
        const unsigned char *limit = end - 16;
        do {
            v1 = xxh32_round(v1, read32le(p));
            v2 = xxh32_round(v2, read32le(p + 4));
            v3 = xxh32_round(v3, read32le(p + 8));
            v4 = xxh32_round(v4, read32le(p + 12));
            p += 16;
        } while (p <= limit);
        h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
    } else {
        h = seed + P32_5;
    }
    h += (uint32_t)len;
    for (; p + 4 <= end; p += 4)
        h = rotl32(h + read32le(p) * P32_3, 17) * P32_4;
    for (; p < end; p++)
        h = rotl32(h + *p * P32_5, 11) * P32_1;
    h ^= h >> 15;
    h *= P32_2;
    h ^= h >> 13;
    h *= P32_3;
    h ^= h >> 16;
    return h;
}

#define P64_1 11400714785074694791ull
#define P64_2 14029467366897019727ull
#define P64_3 1609587929392839161ull
#define P64_4 9650029242287828579ull
#define P64_5 2870177450012600261ull

static uint64_t xxh64_round(uint64_t acc, uint64_t lane) {
    return rotl64(acc + lane * P64_2, 31) * P64_1;
}

static uint64_t xxh64_merge(uint64_t h, uint64_t v) {
    return (h ^ xxh64_round(0, v)) * P64_1 + P64_4;
}

static uint64_t xxh64(const unsigned char *p, size_t len, uint64_t seed) {
    const unsigned char *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = seed + P64_1 + P64_2, v2 = seed + P64_2, v3 = seed, v4 = seed - P64_1;
        const unsigned char *limit = end - 32;
        do {
            v1 = xxh64_round(v1, read64le(p));
            v2 = xxh64_round(v2, read64le(p + 8));
            v3 = xxh64_round(v3, read64le(p + 16));
            v4 = xxh64_round(v4, read64le(p + 24));
            p += 32;
        } while (p <= limit);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh64_merge(h, v1);
        h = xxh64_merge(h, v2);
        h = xxh64_merge(h, v3);
        h = xxh64_merge(h, v4);
    } else {
        h = seed + P64_5;
    }
    h += (uint64_t)len;
    for (; p + 8 <= end; p += 8)
        h = rotl64(h ^ xxh64_round(0, read64le(p)), 27) * P64_1 + P64_4;
    if (p + 4 <= end) {
        h = rotl64(h ^ (uint64_t)read32le(p) * P64_1, 23) * P64_2 + P64_3;
        p += 4;
    }
    for (; p < end; p++)
        h = rotl64(h ^ *p * P64_5, 11) * P64_1;
    h ^= h >> 33;
    h *= P64_2;
    h ^= h >> 29;
    h *= P64_3;
    h ^= h >> 32;
    return h;
}

static int l_xxh32(lua_State *L) {
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    uint32_t seed = (uint32_t)luaL_optinteger(L, 2, 0);
    lua_pushinteger(L, (lua_Integer)xxh32(s, n, seed));
    return 1;
}

static int l_xxh64(lua_State *L) {
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    uint64_t seed = (uint64_t)luaL_optinteger(L, 2, 0);
    lua_pushinteger(L, (lua_Integer)xxh64(s, n, seed));
    return 1;
}

/* ---- base64 and base64url -------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(lua_State *L, const char *alphabet, int pad) {
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, (n + 2) / 3 * 4);
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = alphabet[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    luaL_pushresultsize(&b, o);
    return 1;
}

/* The 6-bit value of c in the alphabet, or -1. */
static int b64_value(const char *alphabet, unsigned char c) {
    if (c == '\0')
        return -1;
    const char *p = strchr(alphabet, c);
    return p ? (int)(p - alphabet) : -1;
}

/* Decodes; padding is required when `pad` is set, optional otherwise. */
static int b64_decode(lua_State *L, const char *alphabet, int pad, const char *what) {
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    size_t data = n;
    while (data > 0 && n - data < 2 && s[data - 1] == '=')
        data--;
    if (pad ? (n % 4 != 0) : (n != data && n % 4 != 0))
        goto invalid;
    if (data % 4 == 1)
        goto invalid;
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, data / 4 * 3 + 2);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data; i++) {
        int v = b64_value(alphabet, s[i]);
        if (v < 0) {
            lua_settop(L, 1); /* drops the buffer (it may hold a box) */
            goto invalid;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    /* The unused low bits of the last character must be zero (canonical encoding). */
    if (acc & ((1u << bits) - 1)) {
        lua_settop(L, 1);
        goto invalid;
    }
    luaL_pushresultsize(&b, o);
    return 1;
invalid:
    luaL_pushfail(L);
    lua_pushfstring(L, "invalid %s input", what);
    return 2;
}

static int l_base64(lua_State *L) { return b64_encode(L, B64, 1); }
static int l_b64dec(lua_State *L) { return b64_decode(L, B64, 1, "base64"); }
static int l_ub64enc(lua_State *L) { return b64_encode(L, B64URL, 0); }
static int l_ub64dec(lua_State *L) { return b64_decode(L, B64URL, 0, "base64url"); }

/* ---- hexadecimal ------------------------------------------------------------------------ */

static int l_hex(lua_State *L) {
    static const char digits[] = "0123456789ABCDEF";
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n * 2);
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 15];
    }
    luaL_pushresultsize(&b, n * 2);
    return 1;
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int l_unhex(lua_State *L) {
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    if (n % 2 != 0)
        goto invalid;
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n / 2);
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) {
            lua_settop(L, 1);
            goto invalid;
        }
        out[i / 2] = (char)(hi << 4 | lo);
    }
    luaL_pushresultsize(&b, n / 2);
    return 1;
invalid:
    luaL_pushfail(L);
    lua_pushliteral(L, "invalid hex input");
    return 2;
}

/* ---- module ------------------------------------------------------------------------------ */

int luaopen_moonproxy_codec(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"crc32", l_crc32},   {"crc32c", l_crc32c},   {"xxh32", l_xxh32},
        {"xxh64", l_xxh64},   {"base64", l_base64},   {"b64dec", l_b64dec},
        {"ub64enc", l_ub64enc}, {"ub64dec", l_ub64dec}, {"hex", l_hex},
        {"unhex", l_unhex},   {NULL, NULL},
    };
    pthread_once(&crc_tables_once, init_crc_tables);
    luaL_newlib(L, fns);
    return 1;
}
