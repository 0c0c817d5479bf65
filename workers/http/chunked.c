/* chunked — see chunked.h. */
#include "workers/http/chunked.h"

#include <stdint.h>
#include <string.h>

#include "workers/http/chars.h"

/* http_chunked state_ */
enum chunk_state {
	C_SIZE0 = 0,   /* first hex digit of a chunk size */
	C_SIZE,        /* more hex digits */
	C_SIZE_BWS,    /* whitespace after the size: ';' must follow */
	C_EXT_PRE,     /* after ';', before the extension name */
	C_EXT_NAME,    /* extension name */
	C_EXT_POST,    /* whitespace after the name */
	C_EXT_PRE_VAL, /* after '=' */
	C_EXT_TOKEN,   /* token value */
	C_EXT_QUOTED,  /* quoted-string value */
	C_EXT_QPAIR,   /* after a backslash in it */
	C_EXT_AFTER,   /* after a value */
	C_SIZE_LF,     /* CR of the size line seen */
	C_DATA,        /* chunk data */
	C_DATA_CR,     /* CRLF after the data */
	C_DATA_LF,
	C_TR_START,    /* start of a trailer line, or of the final CRLF */
	C_TR_NAME,
	C_TR_VALUE,
	C_TR_LF,
	C_END_LF,      /* CR of the final CRLF seen */
	C_DONE,
	C_ERROR,
};

/* Trailer fields refused: framing, routing and connection control. */
static const char *const forbidden_trailers[] = {
	"authorization",   "connection", "content-encoding", "content-length",
	"content-range",   "cookie",     "expect",           "host",
	"keep-alive",      "max-forwards", "proxy-authorization", "proxy-connection",
	"range",           "te",         "trailer",          "transfer-encoding",
	"upgrade",
};

static ssize_t fail(struct http_chunked *dec, int status, const char *error);
static bool forbidden_trailer(const char *name, size_t n);

void http_chunked_init(struct http_chunked *dec)
{
	memset(dec, 0, sizeof(*dec));
}

ssize_t http_chunked_decode(struct http_chunked *dec, char *buf, size_t len, size_t *out,
			    const struct http_limits *lim)
{
	struct http_limits store;
	size_t i = 0, w = 0, trailer_max;

	*out = 0;
	if (dec->state_ == C_ERROR)
		return HTTP_PARSE_ERROR;
	if (dec->done)
		return 0;
	if (!lim) {
		http_limits_default(&store);
		lim = &store;
	}
	trailer_max = lim->field_size > 2 ? lim->field_size - 2 : 0;

	while (i < len) {
		unsigned char c = (unsigned char)buf[i];

		if (dec->state_ <= C_EXT_AFTER && ++dec->line_ > lim->field_size) {
			*out = w;
			return fail(dec, 400, "chunk size line too long");
		}
		switch (dec->state_) {
		case C_SIZE0:
			if (!(chars_table[c] & CHARS_HEX))
				goto bad_size;
			dec->remaining_ = 0;
			dec->state_ = C_SIZE;
			/* fall through */
		case C_SIZE:
			if (chars_table[c] & CHARS_HEX) {
				if (dec->remaining_ >> 56) {
					*out = w;
					return fail(dec, 400, "chunk size too large");
				}
				dec->remaining_ = dec->remaining_ << 4 |
						  (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
			} else if (c == ' ' || c == '\t') {
				dec->state_ = C_SIZE_BWS;
			} else if (c == ';') {
				dec->state_ = C_EXT_PRE;
			} else if (c == '\r') {
				dec->state_ = C_SIZE_LF;
			} else {
				goto bad_size;
			}
			break;
		case C_SIZE_BWS:
			if (c == ';')
				dec->state_ = C_EXT_PRE;
			else if (c != ' ' && c != '\t')
				goto bad_size;
			break;
		case C_EXT_PRE:
			if (chars_table[c] & CHARS_TCHAR)
				dec->state_ = C_EXT_NAME;
			else if (c != ' ' && c != '\t')
				goto bad_ext;
			break;
		case C_EXT_NAME:
		case C_EXT_TOKEN:
			if (chars_table[c] & CHARS_TCHAR)
				break;
			if (c == '=' && dec->state_ == C_EXT_NAME)
				dec->state_ = C_EXT_PRE_VAL;
			else if (c == ' ' || c == '\t')
				dec->state_ = dec->state_ == C_EXT_NAME ? C_EXT_POST : C_EXT_AFTER;
			else if (c == ';')
				dec->state_ = C_EXT_PRE;
			else if (c == '\r')
				dec->state_ = C_SIZE_LF;
			else
				goto bad_ext;
			break;
		case C_EXT_POST:
		case C_EXT_AFTER:
			if (c == '=' && dec->state_ == C_EXT_POST)
				dec->state_ = C_EXT_PRE_VAL;
			else if (c == ';')
				dec->state_ = C_EXT_PRE;
			else if (c == '\r')
				dec->state_ = C_SIZE_LF;
			else if (c != ' ' && c != '\t')
				goto bad_ext;
			break;
		case C_EXT_PRE_VAL:
			if (c == '"')
				dec->state_ = C_EXT_QUOTED;
			else if (chars_table[c] & CHARS_TCHAR)
				dec->state_ = C_EXT_TOKEN;
			else if (c != ' ' && c != '\t')
				goto bad_ext;
			break;
		case C_EXT_QUOTED:
			if (c == '"')
				dec->state_ = C_EXT_AFTER;
			else if (c == '\\')
				dec->state_ = C_EXT_QPAIR;
			else if (!(chars_table[c] & CHARS_QDTEXT))
				goto bad_ext;
			break;
		case C_EXT_QPAIR:
			if (!(chars_table[c] & CHARS_VALUE))
				goto bad_ext;
			dec->state_ = C_EXT_QUOTED;
			break;
		case C_SIZE_LF:
			if (c != '\n')
				goto bad_size;
			dec->line_ = 0;
			if (dec->remaining_ == 0) {
				dec->state_ = C_TR_START;
				break;
			}
			if (lim->body && dec->remaining_ > lim->body - dec->total_) {
				*out = w;
				return fail(dec, 413, "request body too large");
			}
			dec->total_ += dec->remaining_;
			dec->state_ = C_DATA;
			break;
		case C_DATA: {
			size_t n = len - i;

			if (n > dec->remaining_)
				n = (size_t)dec->remaining_;
			if (w != i)
				memmove(buf + w, buf + i, n);
			w += n;
			i += n;
			dec->remaining_ -= n;
			if (dec->remaining_ == 0)
				dec->state_ = C_DATA_CR;
			continue;
		}
		case C_DATA_CR:
		case C_DATA_LF:
			if (c != (dec->state_ == C_DATA_CR ? '\r' : '\n')) {
				*out = w;
				return fail(dec, 400, "chunk data not followed by CRLF");
			}
			dec->state_ = dec->state_ == C_DATA_CR ? C_DATA_LF : C_SIZE0;
			break;
		case C_TR_START:
			if (c == '\r') {
				dec->state_ = C_END_LF;
				break;
			}
			if (!(chars_table[c] & CHARS_TCHAR))
				goto bad_trailer;
			if (dec->trailers_ >= lim->fields) {
				*out = w;
				return fail(dec, 431, "too many trailer fields");
			}
			dec->state_ = C_TR_NAME;
			/* fall through */
		case C_TR_NAME:
			if (++dec->line_ > trailer_max) {
				*out = w;
				return fail(dec, 431, "trailer field too large");
			}
			if (chars_table[c] & CHARS_TCHAR) {
				if (dec->line_ <= sizeof(dec->name_))
					dec->name_[dec->line_ - 1] =
						(char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			} else if (c == ':') {
				if (forbidden_trailer(dec->name_, dec->line_ - 1)) {
					*out = w;
					return fail(dec, 400, "field not allowed in trailers");
				}
				dec->state_ = C_TR_VALUE;
			} else {
				goto bad_trailer;
			}
			break;
		case C_TR_VALUE:
			if (c == '\r') {
				dec->state_ = C_TR_LF;
				break;
			}
			if (!(chars_table[c] & CHARS_VALUE))
				goto bad_trailer;
			if (++dec->line_ > trailer_max) {
				*out = w;
				return fail(dec, 431, "trailer field too large");
			}
			break;
		case C_TR_LF:
			if (c != '\n')
				goto bad_trailer;
			dec->trailers_++;
			dec->line_ = 0;
			dec->state_ = C_TR_START;
			break;
		case C_END_LF:
			if (c != '\n')
				goto bad_trailer;
			dec->state_ = C_DONE;
			dec->done = true;
			*out = w;
			return (ssize_t)(i + 1);
		default:
			*out = w;
			return fail(dec, 400, "chunked decoder misused");
		}
		i++;
	}
	*out = w;
	return (ssize_t)i;

bad_size:
	*out = w;
	return fail(dec, 400, "invalid chunk size line");
bad_ext:
	*out = w;
	return fail(dec, 400, "invalid chunk extension");
bad_trailer:
	*out = w;
	return fail(dec, 400, "invalid trailer field");
}

static ssize_t fail(struct http_chunked *dec, int status, const char *error)
{
	dec->state_ = C_ERROR;
	dec->status = status;
	dec->error = error;
	return HTTP_PARSE_ERROR;
}

/* name is lower-cased already. */
static bool forbidden_trailer(const char *name, size_t n)
{
	if (n >= sizeof(((struct http_chunked *)0)->name_))
		return false;
	for (size_t i = 0; i < sizeof(forbidden_trailers) / sizeof(*forbidden_trailers); i++)
		if (strlen(forbidden_trailers[i]) == n && memcmp(forbidden_trailers[i], name, n) == 0)
			return true;
	return false;
}
