/* empycustom._native: scan_json(), a strict JSON (RFC 8259) validator that also compacts.
 *
 * A library's out_meta often comes as JSON text. Parsed into Python objects, 100 kB of it costs
 * more than everything else the element does with the same content returned as a dict; most
 * of it (the frame's result) only goes back out as JSON. This pass checks the text and writes
 * it without the whitespace between tokens, so that the parts nothing has to merge can be
 * embedded in the merged meta as they are (orjson.Fragment), and only the others parsed.
 *
 * It accepts only what every JSON reader, json.loads included, reads as the same values once
 * written compactly; anything else is refused (None) and the caller parses the text as before:
 * - not RFC 8259 JSON (NaN, Infinity, Python literals, trailing commas, control characters in
 *   strings, leading zeros, trailing text, ...);
 * - \u escapes of lone surrogates (json.loads gives a str no UTF-8 can hold);
 * - 19 digits or more before the point or in the exponent (beyond 64-bit integers json.loads
 *   is exact, orjson not), and exponents above 280 (a float that may overflow to infinity,
 *   which to_json would have written as null);
 * - an object with a key twice (json.loads keeps the last; the text would keep both), or with
 *   a key holding an escape (two spellings of one key);
 * - nesting deeper than JSON_MAX_DEPTH.
 * A str with lone surrogates has no UTF-8 form and is refused too; any other str is valid
 * UTF-8, so bytes of 0x80 and above need no check. Python ends the UTF-8 with a NUL, which no
 * token holds: the loops over spaces, digits and string bytes stop at it without a bounds test.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_native.h"
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define JSON_MAX_DEPTH 512
/* Up to this many keys in an object, each new one is compared with the others; an object
 * with more has its keys sorted and compared once, when it closes. */
#define JSON_LINEAR_KEYS 32
#define JSON_MAX_DIGITS 18
#define JSON_MAX_EXPONENT 280

enum { JSON_OTHER = 0, JSON_OBJECT = 1, JSON_ARRAY = 2, JSON_EMPTY_OBJECT = 3,
       JSON_EMPTY_ARRAY = 4 };

typedef struct {
  uint64_t hash;
  const unsigned char *start;
  Py_ssize_t size;
} JsonKey;

typedef struct {
  const unsigned char *end;
  /* The compact copy: bytes are copied in runs, from `pending` to the next space. */
  const unsigned char *pending;
  unsigned char *out, *out_start;
  JsonKey *keys; /* the keys of the objects open, innermost last */
  Py_ssize_t key_count, key_capacity;
  JsonKey key_storage[128];
} JsonScan;

static const unsigned char json_space[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

/* Bytes that end the plain run of a string: the quote, the backslash, control characters. */
static const unsigned char json_string_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, ['"'] = 1, ['\\'] = 1};

/* Copy size bytes: most runs are short, and a 16-byte store is cheaper than memcpy's call. */
static inline void copy_run(unsigned char *out, const unsigned char *from, Py_ssize_t size,
                            const unsigned char *end) {
#if defined(__SSE2__)
  if (size <= 16 && end - from >= 16) {
    _mm_storeu_si128((__m128i *)out, _mm_loadu_si128((const __m128i *)from));
    return;
  }
#endif
  memcpy(out, from, (size_t)size);
}

/* Past the space at p, if any; the bytes before it go to the compact copy. */
static inline const unsigned char *skip_space(JsonScan *scan, const unsigned char *p) {
  const unsigned char *end = scan->end;
  if (json_space[*p]) {
    copy_run(scan->out, scan->pending, p - scan->pending, end);
    scan->out += p - scan->pending;
    do p++;
    while (json_space[*p]);
    scan->pending = p;
  }
  return p;
}

/* Where p will be in the compact copy. */
static inline Py_ssize_t compact_offset(const JsonScan *scan, const unsigned char *p) {
  return (scan->out - scan->out_start) + (p - scan->pending);
}

static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }

static inline int hex_digit(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* The code unit of the four hex digits at p, or -1. */
static inline long hex4(const unsigned char *p) {
  int a = hex_digit(p[0]), b = hex_digit(p[1]), c = hex_digit(p[2]), d = hex_digit(p[3]);
  if ((a | b | c | d) < 0) return -1;
  return (long)(a << 12 | b << 8 | c << 4 | d);
}

#if defined(__SSE2__)
/* Moves *at to the first byte that is `quote`, `other_quote`, a backslash or a control
 * character, 16 bytes at a time while 16 are left; 0 when it found none. */
static inline int find_string_stop(const unsigned char **at, const unsigned char *end,
                                   char quote, char other_quote) {
  const __m128i first = _mm_set1_epi8(quote), second = _mm_set1_epi8(other_quote),
                backslash = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1f);
  const unsigned char *p = *at;
  while (end - p >= 16) {
    __m128i chunk = _mm_loadu_si128((const __m128i *)p);
    __m128i stops = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(chunk, first), _mm_cmpeq_epi8(chunk, second)),
        _mm_or_si128(_mm_cmpeq_epi8(chunk, backslash),
                     _mm_cmpeq_epi8(_mm_max_epu8(chunk, control), control))); /* <= 0x1f */
    int mask = _mm_movemask_epi8(stops);
    if (mask) {
      *at = p + __builtin_ctz((unsigned)mask);
      return 1;
    }
    p += 16;
  }
  *at = p;
  return 0;
}
#endif

/* Past the string whose opening quote p points after. Returns NULL when it is not a JSON
 * string; *escaped tells whether it held an escape. */
static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end,
                                        int *escaped) {
  for (;;) {
#if defined(__SSE2__)
    if (find_string_stop(&p, end, '"', '"')) goto stop;
#endif
    while (!json_string_stop[*p]) p++; /* the NUL after the text stops it */
    if (p >= end) return NULL;
#if defined(__SSE2__)
  stop:
#endif
    if (*p == '"') return p + 1;
    if (*p != '\\' || end - p < 2) return NULL; /* a control character, or a cut escape */
    *escaped = 1;
    switch (p[1]) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        p += 2;
        continue;
      case 'u': {
        if (end - p < 6) return NULL;
        long unit = hex4(p + 2);
        if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) return NULL;
        if (unit >= 0xD800 && unit <= 0xDBFF) { /* only with its low half */
          if (end - p < 12 || p[6] != '\\' || p[7] != 'u') return NULL;
          long low = hex4(p + 8);
          if (low < 0xDC00 || low > 0xDFFF) return NULL;
          p += 6;
        }
        p += 6;
        continue;
      }
      default:
        return NULL;
    }
  }
}

/* Past the number at p, or NULL when it is not one this scan accepts. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end) {
  const unsigned char *digits;
  if (*p == '-') p++;
  if (p >= end) return NULL;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    digits = p;
    while (is_digit(*p)) p++;
    if (p - digits > JSON_MAX_DIGITS) return NULL;
  } else {
    return NULL;
  }
  if (*p == '.') { /* any length: json and orjson round long fractions alike (correctly) */
    digits = ++p;
    while (is_digit(*p)) p++;
    if (p == digits) return NULL;
  }
  if ((*p | 0x20) == 'e') {
    p++;
    int negative = 0;
    if (*p == '+' || *p == '-') negative = *p++ == '-';
    digits = p;
    long exponent = 0;
    while (is_digit(*p)) {
      if (exponent <= JSON_MAX_EXPONENT) exponent = exponent * 10 + (*p - '0');
      p++;
    }
    if (p == digits || p - digits > JSON_MAX_DIGITS) return NULL;
    if (!negative && exponent > JSON_MAX_EXPONENT) return NULL;
  }
  return p;
}

/* A new key of the innermost open object, from keys[first] on: 0 when it is there already
 * (for the first JSON_LINEAR_KEYS; see distinct_keys) or memory ran out. *seen has a bit set
 * per key of the object (6 bits of its hash): a key whose bit is clear is compared with none.
 * The bytes up to limit may be read. */
static int add_key(JsonScan *scan, Py_ssize_t first, uint64_t *seen, const unsigned char *start,
                   Py_ssize_t size, const unsigned char *limit) {
  /* The hash: the first 8 bytes, the last 8 and the size. */
  uint64_t head = 0, tail = 0;
  if (limit - start >= 8) {
    memcpy(&head, start, 8);
    if (size < 8) { /* keep the key's bytes only */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      head = size ? head >> (64 - size * 8) : 0;
#else
      head &= ((uint64_t)1 << (size * 8)) - 1;
#endif
    }
  } else {
    memcpy(&head, start, (size_t)(size < 8 ? size : 8));
  }
  if (size > 8) memcpy(&tail, start + size - 8, 8);
  uint64_t hash = (head * 0x9E3779B97F4A7C15u) ^ (tail * 0xC2B2AE3D27D4EB4Fu) ^ (uint64_t)size;
  uint64_t bit = (uint64_t)1 << (hash >> 58);
  int maybe_seen = (*seen & bit) != 0;
  *seen |= bit;
  if (maybe_seen && scan->key_count - first < JSON_LINEAR_KEYS) {
    for (Py_ssize_t index = first; index < scan->key_count; index++) {
      JsonKey *key = &scan->keys[index];
      if (key->hash == hash && key->size == size && memcmp(key->start, start, (size_t)size) == 0)
        return 0;
    }
  }
  if (scan->key_count == scan->key_capacity) {
    Py_ssize_t capacity = scan->key_capacity * 2;
    JsonKey *keys = scan->keys == scan->key_storage
                        ? PyMem_RawMalloc(capacity * sizeof(JsonKey))
                        : PyMem_RawRealloc(scan->keys, capacity * sizeof(JsonKey));
    if (keys == NULL) return 0; /* refused: the caller's parse reports any memory error */
    if (scan->keys == scan->key_storage) memcpy(keys, scan->keys, sizeof(scan->key_storage));
    scan->keys = keys;
    scan->key_capacity = capacity;
  }
  scan->keys[scan->key_count++] = (JsonKey){hash, start, size};
  return 1;
}

static int compare_keys(const void *a, const void *b) {
  const JsonKey *left = a, *right = b;
  if (left->hash != right->hash) return left->hash < right->hash ? -1 : 1;
  if (left->size != right->size) return left->size < right->size ? -1 : 1;
  return memcmp(left->start, right->start, (size_t)left->size);
}

/* Whether the keys of an object that closes, keys[first] on, are all different: those of an
 * object with more than JSON_LINEAR_KEYS were not all compared as they came. */
static int distinct_keys(JsonScan *scan, Py_ssize_t first) {
  Py_ssize_t count = scan->key_count - first;
  if (count <= JSON_LINEAR_KEYS) return 1;
  JsonKey *keys = scan->keys + first;
  qsort(keys, (size_t)count, sizeof(JsonKey), compare_keys);
  for (Py_ssize_t index = 1; index < count; index++)
    if (compare_keys(&keys[index - 1], &keys[index]) == 0) return 0;
  return 1;
}

typedef struct {
  Py_ssize_t start, end; /* of the wanted element, in the output; -1 when there is none */
  int kind;              /* of the text */
} JsonShape;

/* Scan text [p, end), writing its compact copy. Returns 1 when accepted. The kind of the value
 * and, for an array, the span of its element number `wanted` go to *shape. */
static int scan_text(JsonScan *scan, const unsigned char *p, Py_ssize_t wanted,
                     JsonShape *shape) {
  const unsigned char *end = scan->end;
  unsigned char containers[JSON_MAX_DEPTH]; /* '{' or '[' per open container */
  Py_ssize_t first_keys[JSON_MAX_DEPTH];     /* where each open object's keys start */
  uint64_t seen_keys[JSON_MAX_DEPTH];        /* add_key's bits, per open object */
  Py_ssize_t depth = 0, element = 0;
  int escaped;
  shape->start = shape->end = -1;

  p = skip_space(scan, p);
  if (p >= end) return 0;
  shape->kind = *p == '{' ? JSON_OBJECT : *p == '[' ? JSON_ARRAY : JSON_OTHER;

value:
  if (p >= end) return 0;
  if (depth == 1 && containers[0] == '[' && element++ == wanted)
    shape->start = compact_offset(scan, p);
  switch (*p) {
    case '{':
    case '[':
      if (depth == JSON_MAX_DEPTH) return 0;
      containers[depth] = *p;
      first_keys[depth] = scan->key_count;
      seen_keys[depth] = 0;
      depth++;
      p = skip_space(scan, p + 1);
      if (p >= end) return 0;
      if (*p == (containers[depth - 1] == '{' ? '}' : ']')) goto close;
      if (containers[depth - 1] == '[') goto value;
      goto key;
    case '"':
      escaped = 0;
      p = scan_string(p + 1, end, &escaped);
      if (p == NULL) return 0;
      break;
    case 't':
      if (end - p < 4 || memcmp(p, "true", 4) != 0) return 0;
      p += 4;
      break;
    case 'f':
      if (end - p < 5 || memcmp(p, "false", 5) != 0) return 0;
      p += 5;
      break;
    case 'n':
      if (end - p < 4 || memcmp(p, "null", 4) != 0) return 0;
      p += 4;
      break;
    default:
      p = scan_number(p, end);
      if (p == NULL) return 0;
      break;
  }

next: /* after a value */
  if (depth == 0) { /* the rest of the copy, then nothing but space */
    copy_run(scan->out, scan->pending, p - scan->pending, end);
    scan->out += p - scan->pending;
    while (json_space[*p]) p++;
    return p == end;
  }
  if (depth == 1 && shape->start >= 0 && shape->end < 0) shape->end = compact_offset(scan, p);
  p = skip_space(scan, p);
  if (p >= end) return 0;
  if (*p == ',') {
    p = skip_space(scan, p + 1);
    if (containers[depth - 1] == '[') goto value;
    goto key;
  }
  if (*p != (containers[depth - 1] == '{' ? '}' : ']')) return 0;

close: /* *p closes the innermost container */
  depth--;
  if (*p == '}' && !distinct_keys(scan, first_keys[depth])) return 0;
  scan->key_count = first_keys[depth];
  p++;
  goto next;

key: /* in an object, after '{' or ',' and the space after them */
  if (p >= end || *p != '"') return 0;
  {
    const unsigned char *start = p + 1;
    escaped = 0;
    p = scan_string(start, end, &escaped);
    if (p == NULL || escaped) return 0;
    if (!add_key(scan, first_keys[depth - 1], &seen_keys[depth - 1], start, p - 1 - start,
                 end))
      return 0;
  }
  p = skip_space(scan, p);
  if (p >= end || *p != ':') return 0;
  p = skip_space(scan, p + 1);
  goto value;
}

/* Python literals: scan_json(text, element, 1).
 *
 * A library that returns str(list_of_dicts) writes Python's repr: 'single' or "double" quoted
 * strings with Python's escapes, True/False/None, tuples. This pass writes the compact strict
 * JSON of the same values (what to_json writes of them), so that such text costs what JSON
 * text does. It accepts only the literals whose values ast.literal_eval and json.loads of the
 * result agree on; anything else is refused (None) and the caller evaluates the text with ast:
 * - other tokens: names (nan, inf), sets, bytes, string prefixes and concatenation, comments,
 *   a backslash outside strings, a sign with a space, calls but numpy's wrappers of one
 *   argument (np.float64(1.5), np.str_('a'), array([1, 2]): their argument; keywords such as
 *   dtype=, spaces in or after the name and non-ASCII names are refused);
 * - a dict key that is not a str, or a key twice (the dict keeps the last value: compared in
 *   the output, where each str has one spelling);
 * - escapes other than \\ \' \" \n \r \t \b \f \xNN \uNNNN \UNNNNNNNN, the code of a surrogate
 *   (a str no UTF-8 holds), a raw control character in a string;
 * - numbers that are not JSON numbers or that scan_json refuses (1., .5, 0x1, 1_0, 19 digits
 *   or more, exponents above JSON_MAX_EXPONENT), and "(x)", which is x and not a tuple;
 * - nesting deeper than LITERAL_MAX_DEPTH (Python's parser stops at 200).
 * The names outmeta._literal reads as constants are read alike (True_, np.False_, null).
 * Strings are written as orjson writes them: \" \\ \b \t \n \f \r, \u00XX for the other
 * control characters, everything else as UTF-8. No token grows to more than twice its size.
 */
#define LITERAL_MAX_DEPTH 100

/* Bytes that end the plain run of a Python string: both quotes, the backslash, controls. */
static const unsigned char literal_string_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, ['"'] = 1, ['\''] = 1, ['\\'] = 1};

/* Write the code point as a character of a JSON string, as orjson does. */
static inline unsigned char *write_code_point(unsigned char *out, uint32_t code) {
  static const char hex[] = "0123456789abcdef";
  if (code < 0x20) {
    *out++ = '\\';
    switch (code) {
      case '\b': *out++ = 'b'; break;
      case '\t': *out++ = 't'; break;
      case '\n': *out++ = 'n'; break;
      case '\f': *out++ = 'f'; break;
      case '\r': *out++ = 'r'; break;
      default:
        memcpy(out, "u00", 3);
        out[3] = (unsigned char)hex[code >> 4];
        out[4] = (unsigned char)hex[code & 15];
        out += 5;
    }
  } else if (code < 0x80) {
    if (code == '"' || code == '\\') *out++ = '\\';
    *out++ = (unsigned char)code;
  } else if (code < 0x800) {
    *out++ = (unsigned char)(0xC0 | code >> 6);
    *out++ = (unsigned char)(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    *out++ = (unsigned char)(0xE0 | code >> 12);
    *out++ = (unsigned char)(0x80 | (code >> 6 & 0x3F));
    *out++ = (unsigned char)(0x80 | (code & 0x3F));
  } else {
    *out++ = (unsigned char)(0xF0 | code >> 18);
    *out++ = (unsigned char)(0x80 | (code >> 12 & 0x3F));
    *out++ = (unsigned char)(0x80 | (code >> 6 & 0x3F));
    *out++ = (unsigned char)(0x80 | (code & 0x3F));
  }
  return out;
}

/* The code of the `count` hex digits at p, or -1. */
static inline long hex_code(const unsigned char *p, int count) {
  long code = 0;
  for (int index = 0; index < count; index++) {
    int digit = hex_digit(p[index]);
    if (digit < 0) return -1;
    code = code << 4 | digit;
  }
  return code;
}

/* Past the Python string whose opening `quote` p points after, its characters written to
 * *out as those of a JSON string (without the quotes); NULL when it is refused. */
static const unsigned char *convert_string(const unsigned char *p, const unsigned char *end,
                                           unsigned char quote, unsigned char **out) {
  unsigned char *to = *out;
  for (;;) {
    const unsigned char *run = p;
#if defined(__SSE2__)
    if (find_string_stop(&p, end, '\'', '"')) goto stop;
#endif
    while (!literal_string_stop[*p]) p++; /* the NUL after the text stops it */
#if defined(__SSE2__)
  stop:
#endif
    copy_run(to, run, p - run, end);
    to += p - run;
    if (p >= end) return NULL;
    unsigned char c = *p;
    if (c == quote) {
      *out = to;
      return p + 1;
    }
    if (c == '"' || c == '\'') { /* the other quote */
      to = write_code_point(to, c);
      p++;
      continue;
    }
    if (c != '\\' || end - p < 2) return NULL; /* a control character, or a cut escape */
    long code;
    switch (p[1]) {
      case '\\': case '\'': case '"': code = p[1]; p += 2; break;
      case 'n': code = '\n'; p += 2; break;
      case 'r': code = '\r'; p += 2; break;
      case 't': code = '\t'; p += 2; break;
      case 'b': code = '\b'; p += 2; break;
      case 'f': code = '\f'; p += 2; break;
      case 'x':
        if (end - p < 4 || (code = hex_code(p + 2, 2)) < 0) return NULL;
        p += 4;
        break;
      case 'u':
        if (end - p < 6 || (code = hex_code(p + 2, 4)) < 0) return NULL;
        p += 6;
        break;
      case 'U':
        if (end - p < 10 || (code = hex_code(p + 2, 8)) < 0 || code > 0x10FFFF) return NULL;
        p += 10;
        break;
      default: /* octal, \N{...}, \a, \v, a line continuation, unknown escapes */
        return NULL;
    }
    if (code >= 0xD800 && code <= 0xDFFF) return NULL;
    to = write_code_point(to, (uint32_t)code);
  }
}

/* numpy's repr writes its scalars and arrays as calls: np.float64(1.5), np.str_('a'),
 * array([1, 2]); outmeta._literal reads a call of one of these names (the last part of a
 * dotted name) as its one argument, and these names of constants as their values. */
typedef struct {
  const char *name;
  Py_ssize_t size;
} LiteralName;
#define NAME(text) {text, sizeof(text) - 1}
static const LiteralName literal_wrappers[] = {
    NAME("float16"), NAME("float32"), NAME("float64"), NAME("float128"), NAME("longdouble"),
    NAME("double"), NAME("half"), NAME("single"), NAME("int8"), NAME("int16"), NAME("int32"),
    NAME("int64"), NAME("uint8"), NAME("uint16"), NAME("uint32"), NAME("uint64"), NAME("intp"),
    NAME("uintp"), NAME("longlong"), NAME("ulonglong"), NAME("bool_"), NAME("bool"), NAME("str_"),
    NAME("bytes_"), NAME("array"), NAME("float"), NAME("int"), NAME("complex64"),
    NAME("complex128"), {NULL, 0}};
static const LiteralName python_keywords[] = {
    NAME("False"), NAME("None"), NAME("True"), NAME("and"), NAME("as"), NAME("assert"),
    NAME("async"), NAME("await"), NAME("break"), NAME("class"), NAME("continue"), NAME("def"),
    NAME("del"), NAME("elif"), NAME("else"), NAME("except"), NAME("finally"), NAME("for"),
    NAME("from"), NAME("global"), NAME("if"), NAME("import"), NAME("in"), NAME("is"),
    NAME("lambda"), NAME("nonlocal"), NAME("not"), NAME("or"), NAME("pass"), NAME("raise"),
    NAME("return"), NAME("try"), NAME("while"), NAME("with"), NAME("yield"), {NULL, 0}};
#undef NAME

enum { NAME_REFUSED, NAME_WRAPPER, NAME_TRUE, NAME_FALSE, NAME_NONE };

static int name_in(const LiteralName *names, const unsigned char *name, Py_ssize_t size) {
  for (; names->name; names++)
    if (names->size == size && memcmp(names->name, name, (size_t)size) == 0) return 1;
  return 0;
}

static inline int name_start(unsigned char c) {
  return (unsigned)((c | 0x20) - 'a') < 26u || c == '_';
}

/* Past the (dotted, ASCII) name at *at, and what it is: a wrapper followed by its '(', a
 * constant, or refused (any other name: nan, inf, a keyword before a dot, ...). */
static int scan_name(const unsigned char **at) {
  const unsigned char *p = *at, *last;
  int parts = 0;
  for (;;) {
    last = p;
    if (!name_start(*p)) return NAME_REFUSED;
    while (name_start(*p) || is_digit(*p)) p++;
    parts++;
    if (*p != '.') break;
    if (name_in(python_keywords, last, p - last)) return NAME_REFUSED; /* None.x, if.x */
    p++;
  }
  if (*p >= 0x80) return NAME_REFUSED; /* a name that goes on in non-ASCII letters */
  Py_ssize_t size = p - last;
  *at = p;
#define NAME_IS(text) (size == (Py_ssize_t)sizeof(text) - 1 && memcmp(last, text, size) == 0)
  if (parts == 1) {
    if (NAME_IS("True")) return NAME_TRUE;
    if (NAME_IS("False")) return NAME_FALSE;
    if (NAME_IS("None")) return NAME_NONE;
  }
  if (*p == '(') return name_in(literal_wrappers, last, size) ? NAME_WRAPPER : NAME_REFUSED;
  if (NAME_IS("True_") || NAME_IS("true")) return NAME_TRUE;
  if (NAME_IS("False_") || NAME_IS("false")) return NAME_FALSE;
  if (NAME_IS("null")) return NAME_NONE;
#undef NAME_IS
  return NAME_REFUSED;
}

static inline const unsigned char *past_space(const unsigned char *p) {
  while (json_space[*p]) p++;
  return p;
}

/* Convert the Python literal text [p, end) to compact JSON at scan->out. Returns 1 when
 * accepted; the kind of the value and, for a list or tuple, the span of its element number
 * `wanted` in the output go to *shape. */
static int scan_literal(JsonScan *scan, const unsigned char *p, Py_ssize_t wanted,
                        JsonShape *shape) {
  const unsigned char *end = scan->end;
  unsigned char *out = scan->out;
  /* '{', '[' or '(' per open container, 'c' for a wrapper's call (closed by ')') */
  unsigned char containers[LITERAL_MAX_DEPTH];
  unsigned char tuples[LITERAL_MAX_DEPTH];     /* a '(' that held a comma, or nothing */
  Py_ssize_t first_keys[LITERAL_MAX_DEPTH];
  uint64_t seen_keys[LITERAL_MAX_DEPTH];
  Py_ssize_t depth = 0, element = 0;
  unsigned char closer = 0; /* of the innermost open container */
  shape->start = shape->end = -1;

  p = past_space(p);
  if (p >= end) return 0;
  shape->kind = *p == '{' ? JSON_OBJECT : (*p == '[' || *p == '(') ? JSON_ARRAY : JSON_OTHER;

value:
  if (p >= end) return 0;
  if (depth == 1 && (containers[0] == '[' || containers[0] == '(') && element++ == wanted)
    shape->start = out - scan->out_start;
  switch (*p) {
    case '{':
    case '[':
    case '(':
      if (depth == LITERAL_MAX_DEPTH) return 0;
      containers[depth] = *p;
      tuples[depth] = 0;
      first_keys[depth] = scan->key_count;
      seen_keys[depth] = 0;
      depth++;
      closer = *p == '{' ? '}' : *p == '[' ? ']' : ')';
      *out++ = *p == '{' ? '{' : '[';
      p = past_space(p + 1);
      if (p >= end) return 0;
      if (*p == closer) {
        tuples[depth - 1] = 1; /* () is the empty tuple */
        goto close;
      }
      if (closer == '}') goto key;
      goto value;
    case '\'':
    case '"':
      *out++ = '"';
      p = convert_string(p + 1, end, *p, &out);
      if (p == NULL) return 0;
      *out++ = '"';
      break;
    default:
      if (name_start(*p)) {
        switch (scan_name(&p)) {
          case NAME_TRUE: memcpy(out, "true", 4); out += 4; break;
          case NAME_FALSE: memcpy(out, "false", 5); out += 5; break;
          case NAME_NONE: memcpy(out, "null", 4); out += 4; break;
          case NAME_WRAPPER: /* its one argument is the value; the call writes nothing */
            if (depth == LITERAL_MAX_DEPTH) return 0;
            containers[depth] = 'c';
            tuples[depth] = 1;
            first_keys[depth] = scan->key_count;
            depth++;
            closer = ')';
            p = past_space(p + 1);
            if (p >= end || *p == ')') return 0; /* no argument */
            goto value;
          default:
            return 0;
        }
      } else {
        const unsigned char *number = p;
        p = scan_number(p, end);
        if (p == NULL) return 0;
        copy_run(out, number, p - number, end);
        out += p - number;
      }
      break;
  }

next: /* after a value: anything but a separator after it is refused (1j, 1if, 'a' 'b') */
  if (depth == 0) {
    scan->out = out;
    return past_space(p) == end;
  }
  if (depth == 1 && shape->start >= 0 && shape->end < 0) shape->end = out - scan->out_start;
  p = past_space(p);
  if (p >= end) return 0;
  if (*p == ',') {
    tuples[depth - 1] = 1;
    p = past_space(p + 1);
    if (p >= end) return 0;
    if (*p == closer) goto close; /* a trailing comma */
    if (containers[depth - 1] == 'c') return 0; /* a call of two arguments, or keywords */
    *out++ = ',';
    if (closer == '}') goto key;
    goto value;
  }
  if (*p != closer) return 0;

close: /* *p closes the innermost container */
  depth--;
  if (closer == ')' && !tuples[depth]) return 0; /* (x) is x */
  if (closer == '}' && !distinct_keys(scan, first_keys[depth])) return 0;
  scan->key_count = first_keys[depth];
  if (containers[depth] != 'c') *out++ = closer == '}' ? '}' : ']';
  p++;
  if (depth > 0)
    closer = containers[depth - 1] == '{' ? '}' : containers[depth - 1] == '[' ? ']' : ')';
  goto next;

key: /* in a dict, after '{' or ',' and the space after them: a str, else refused */
  if (*p != '\'' && *p != '"') return 0;
  {
    *out++ = '"';
    unsigned char *start = out;
    p = convert_string(p + 1, end, *p, &out);
    if (p == NULL) return 0;
    if (!add_key(scan, first_keys[depth - 1], &seen_keys[depth - 1], start, out - start, out))
      return 0;
    *out++ = '"';
  }
  p = past_space(p);
  if (p >= end || *p != ':') return 0;
  *out++ = ':';
  p = past_space(p + 1);
  goto value;
}

/* scan_json(text, element[, literal]) -> None | (kind, compact, start, end, element_kind)
 * literal: the text is a Python literal (scan_literal) rather than JSON. */
PyObject *scan_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  (void)module;
  if (nargs != 2 && nargs != 3)
    return PyErr_Format(PyExc_TypeError, "scan_json() takes 2 or 3 arguments");
  if (!PyUnicode_Check(args[0])) return PyErr_Format(PyExc_TypeError, "text must be a str");
  Py_ssize_t wanted = PyLong_AsSsize_t(args[1]);
  if (wanted == -1 && PyErr_Occurred()) return NULL;
  int literal = nargs == 3 ? PyObject_IsTrue(args[2]) : 0;
  if (literal < 0) return NULL;
  Py_ssize_t size;
  const char *text = PyUnicode_AsUTF8AndSize(args[0], &size);
  if (text == NULL) { /* lone surrogates: no UTF-8 form */
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  if (literal && size > (PY_SSIZE_T_MAX - 16) / 2) Py_RETURN_NONE;
  /* JSON: never more than the text, and copy_run()'s 16-byte stores stay behind the bytes
   * read. A literal's output is at most twice the bytes read, and 16 bytes more for them. */
  PyObject *compact = PyBytes_FromStringAndSize(NULL, literal ? 2 * size + 16 : size);
  if (compact == NULL) return NULL;
  unsigned char *out = (unsigned char *)PyBytes_AS_STRING(compact);
  JsonScan scan = {.end = (const unsigned char *)text + size, .pending = (const unsigned char *)text,
                   .out = out, .out_start = out, .key_count = 0, .key_capacity = 128};
  scan.keys = scan.key_storage;
  JsonShape shape;
  int accepted = literal ? scan_literal(&scan, (const unsigned char *)text, wanted, &shape)
                         : scan_text(&scan, (const unsigned char *)text, wanted, &shape);
  if (scan.keys != scan.key_storage) PyMem_RawFree(scan.keys);
  if (!accepted) {
    Py_DECREF(compact);
    Py_RETURN_NONE;
  }
  Py_ssize_t written = scan.out - out;
  if (_PyBytes_Resize(&compact, written) < 0) return NULL;
  out = (unsigned char *)PyBytes_AS_STRING(compact);
  int kind = shape.kind;
  if (kind == JSON_OBJECT && written == 2) kind = JSON_EMPTY_OBJECT;
  if (kind == JSON_ARRAY && written == 2) kind = JSON_EMPTY_ARRAY;
  int element_kind = -1;
  if (shape.start >= 0) {
    unsigned char first = out[shape.start];
    int empty = shape.end - shape.start == 2;
    element_kind = first == '{' ? (empty ? JSON_EMPTY_OBJECT : JSON_OBJECT)
                   : first == '[' ? (empty ? JSON_EMPTY_ARRAY : JSON_ARRAY)
                                  : JSON_OTHER;
  }
  return Py_BuildValue("(iNnni)", kind, compact, shape.start, shape.end, element_kind);
}
