/* Loading: the YAML file into a libyaml document, the document through the key tables into a fresh
 * struct config, then the checks that span keys (the URL's scheme, the password source) and what
 * the configuration points at (the password, the host's id namespace). */
#include "config_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A configuration is a few KiB; anything this large is a mistake (or a YAML bomb). */
#define CONFIG_MAX_BYTES ((off_t)1 << 20)
#define PASSWORD_MAX_BYTES 4096
#define MACHINE_ID_PATH "/etc/machine-id"

#define SECTION_AT(section, field) \
	.offset = offsetof(struct config, section.field) - offsetof(struct config, section)

/* ---- endpoint ---- */

#define EP(field) SECTION_AT(endpoint, field)

/* How many PEM certificates the file holds; -EBADMSG with what OpenSSL said in err when a
 * certificate block cannot be read, -ENOENT when there is none. */
static int count_certificates(FILE *f, char *err, size_t errlen)
{
	BIO *bio = BIO_new_fp(f, BIO_NOCLOSE);
	unsigned long e;
	X509 *x;
	int n = 0;

	if (!bio)
		return -ENOMEM;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		X509_free(x);
		n++;
	}
	e = ERR_peek_last_error();
	BIO_free(bio);
	ERR_clear_error();
	/* the loop ends at the end of the file with "no start line": anything else is a damaged block */
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		ERR_error_string_n(e, err, errlen);
		return -EBADMSG;
	}
	return n ? n : -ENOENT;
}

/* A CA bundle that cannot be read, or that holds no certificate (a key, a DER file, an empty file),
 * would make every request fail at run time: say so now. */
static int check_ca_file(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	char err[256] = "";
	struct stat st = { .st_mode = S_IFREG }; /* an fstat that fails says why through errno */
	FILE *f = NULL;
	int fd, r;

	if (cfg_check_abspath(ld, node, name, value) < 0)
		return -EINVAL;
	fd = open(value, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(f = fdopen(fd, "r"))) {
		const char *why = fd >= 0 && !S_ISREG(st.st_mode) ? "not a regular file" : strerror(errno);

		cfg_error(ld, node, "%s: cannot read %s: %s", name, value, why);
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	r = count_certificates(f, err, sizeof(err));
	fclose(f);
	if (r == -ENOENT)
		cfg_error(ld, node, "%s: %s holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)", name,
			  value);
	else if (r == -EBADMSG)
		cfg_error(ld, node, "%s: %s: a certificate cannot be read: %s", name, value, err);
	else if (r == -ENOMEM)
		ld->oom = true;
	return r < 0 ? -EINVAL : 0;
}

/* endpoint.proxy: "" (no proxy, whatever the environment says) or scheme://[user:password@]host[:port].
 * Its value is never quoted: it may hold the proxy's password. */
static int check_proxy(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	static const char *const schemes[] = { "http", "https", "socks4", "socks4a", "socks5", "socks5h" };
	const char *sep = strstr(value, "://");
	size_t slen = sep ? (size_t)(sep - value) : 0;

	if (!value[0])
		return 0;
	if (!sep || !sep[3] || sep[3] == '/' || sep[3] == '@') {
		cfg_error(ld, node, "%s: expected \"\" or a URL such as http://proxy.example:3128", name);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strlen(schemes[i]) == slen && !strncasecmp(value, schemes[i], slen))
			return 0;
	cfg_error(ld, node, "%s: unsupported scheme (expected http, https, socks4, socks4a, socks5 or socks5h)", name);
	return -EINVAL;
}

static const struct cfg_key endpoint_keys[] = {
	{ .key = "url", .type = CFG_STRING, EP(url), .def = CONFIG_DEFAULT_URL, .check = cfg_check_nonempty,
	  .help = "the events API; http:// is refused unless allow_insecure_http" },
	{ .key = "username", .type = CFG_STRING, EP(username), .check = cfg_check_nonempty,
	  .help = "Basic auth user" },
	{ .key = "password_file", .type = CFG_STRING, EP(password_file), .check = cfg_check_abspath,
	  .help = "file holding the password (one trailing newline ignored)" },
	{ .key = "password_env", .type = CFG_STRING, EP(password_env), .check = cfg_check_nonempty,
	  .help = "environment variable holding the password" },
	{ .key = "password", .type = CFG_STRING, EP(password), .flags = CFG_SECRET,
	  .help = "inline password (discouraged)" },
	{ .key = "ca_file", .type = CFG_STRING, EP(ca_file), .check = check_ca_file,
	  .help = "CA bundle to trust instead of the system's" },
	{ .key = "proxy", .type = CFG_STRING, EP(proxy), .check = check_proxy,
	  .help = "proxy URL; \"\" = none; unset = the environment's (https_proxy, ...)" },
	{ .key = "timeout", .type = CFG_DURATION, EP(timeout_ms), .def = "30s", .min = 1, .max = UINT64_MAX,
	  .help = "whole-request timeout" },
	{ .key = "allow_insecure_http", .type = CFG_BOOL, EP(allow_insecure_http), .def = "false",
	  .help = "accept an http:// url" },
	{ .key = NULL },
};

static void check_url(struct cfg_loader *ld, const yaml_node_t *node, const char *url, bool insecure_ok)
{
	const char *sep = strstr(url, "://"), *host;
	size_t slen = sep ? (size_t)(sep - url) : 0;

	if (!sep) {
		cfg_error(ld, node, "endpoint.url: expected an https:// URL, got \"%s\"", url);
		return;
	}
	host = sep + 3;
	/* user:password@ in the URL would put a secret where messages echo it */
	if (memchr(host, '@', strcspn(host, "/?#"))) {
		cfg_error(ld, node, "endpoint.url: must not contain credentials; use endpoint.username and a password source");
	} else if (slen == 4 && !strncasecmp(url, "http", 4)) {
		if (!insecure_ok)
			cfg_error(ld, node, "endpoint.url: http:// is refused unless endpoint.allow_insecure_http is true");
	} else if (slen != 5 || strncasecmp(url, "https", 5)) {
		cfg_error(ld, node, "endpoint.url: unsupported scheme \"%.*s\" (expected https)", (int)slen, url);
	} else if (!*host || *host == '/') {
		cfg_error(ld, node, "endpoint.url: no host in \"%s\"", url);
	}
}

/* A password that begins or ends with whitespace, or a CR (a file saved with Windows line ends), is
 * sent as it is, which is rarely what was meant: a warning that says so without showing it. Returns
 * what is wrong ("" when nothing). */
static const char *password_oddity(const char *p, size_t n)
{
	static const char ws[] = " \t\r\n\v\f";

	if (!n)
		return "";
	if (memchr(p, '\r', n))
		return "holds a carriage return (a file saved with Windows line ends?)";
	if (strchr(ws, p[0]) || strchr(ws, p[n - 1]))
		return "begins or ends with whitespace (or has more than one trailing newline)";
	return "";
}

/* Reads the password file into ep->password. Its content never reaches a message.
 * O_NONBLOCK: a FIFO (or a device) put in the file's place must not hang a start or a SIGHUP reload in
 * open(); the descriptor's type is what is checked, so nothing can be swapped in between. Symlinks
 * are followed on purpose: secret mounts (Kubernetes' ..data links, /etc/alternatives) are symlinks,
 * and whoever can change the link can change the password anyway. The target must be a regular file
 * of at most PASSWORD_MAX_BYTES. */
static void read_password_file(struct cfg_loader *ld, const yaml_node_t *node, struct config *c)
{
	const char *path = c->endpoint.password_file;
	char buf[PASSWORD_MAX_BYTES + 1];
	ssize_t n = 0, got = 0;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		cfg_error(ld, node, "endpoint.password_file: cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_error(ld, node, "endpoint.password_file: %s is not a regular file", path);
		goto out;
	}
	if (st.st_size > PASSWORD_MAX_BYTES) {
		cfg_error(ld, node, "endpoint.password_file: %s is larger than %d bytes", path, PASSWORD_MAX_BYTES);
		goto out;
	}
	while (got < (ssize_t)sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - (size_t)got)) > 0)
		got += n;
	if (n < 0) {
		cfg_error(ld, node, "endpoint.password_file: cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (got > PASSWORD_MAX_BYTES) {
		cfg_error(ld, node, "endpoint.password_file: %s is larger than %d bytes", path, PASSWORD_MAX_BYTES);
		goto out;
	}
	if (got > 0 && buf[got - 1] == '\n')
		got--; /* exactly one: `echo secret > file` writes it */
	if (!got || memchr(buf, '\0', (size_t)got)) {
		cfg_error(ld, node, "endpoint.password_file: %s %s", path, got ? "contains a NUL byte" : "is empty");
		goto out;
	}
	if (password_oddity(buf, (size_t)got)[0])
		cfg_warning(ld, node, "endpoint.password_file: %s %s, which is sent as part of the password", path,
			    password_oddity(buf, (size_t)got));
	if (st.st_mode & S_IROTH)
		cfg_warning(ld, node, "endpoint.password_file: %s is readable by other users (mode %04o); run chmod o-r on it",
			    path, (unsigned)(st.st_mode & 07777));
	c->endpoint.password = strndup(buf, (size_t)got);
	ld->oom |= !c->endpoint.password;
out:
	explicit_bzero(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
}

static void read_password_env(struct cfg_loader *ld, const yaml_node_t *node, struct config *c)
{
	const char *v = getenv(c->endpoint.password_env);

	if (!v || !v[0]) {
		cfg_error(ld, node, "endpoint.password_env: environment variable %s is %s", c->endpoint.password_env,
			  v ? "empty" : "not set");
		return;
	}
	if (password_oddity(v, strlen(v))[0])
		cfg_warning(ld, node, "endpoint.password_env: environment variable %s %s, which is sent as part of the "
			    "password", c->endpoint.password_env, password_oddity(v, strlen(v)));
	c->endpoint.password = cfg_strdup(ld, v);
}

/* The password sources present, in document order; conflicts are reported at the later ones.
 * Returns how many there are and the first in *ret_first (0 file, 1 env, 2 inline). */
static int password_sources(struct cfg_loader *ld, yaml_node_t *const src[3], int *ret_first)
{
	static const char *const names[] = { "password_file", "password_env", "password" };
	int order[3], n = 0;

	for (int i = 0; i < 3; i++)
		if (src[i])
			order[n++] = i;
	for (int i = 1; i < n; i++) {
		for (int j = i; j > 0 && src[order[j - 1]]->start_mark.index > src[order[j]]->start_mark.index; j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	}
	for (int i = 1; i < n; i++)
		cfg_error(ld, src[order[i]], "endpoint.%s: conflicts with endpoint.%s; set exactly one password source",
			  names[order[i]], names[order[0]]);
	if (n)
		*ret_first = order[0];
	return n;
}

#define CONFIG_OF(base, section) ((struct config *)((char *)(base) - offsetof(struct config, section)))

static void endpoint_post(struct cfg_loader *ld, void *base, yaml_node_t *const *nodes, yaml_node_t *map)
{
	struct config *c = CONFIG_OF(base, endpoint);
	yaml_node_t *src[3] = { cfg_find(endpoint_keys, nodes, "password_file"),
				cfg_find(endpoint_keys, nodes, "password_env"),
				cfg_find(endpoint_keys, nodes, "password") };
	yaml_node_t *at = map ? map : ld->root;
	int first = -1, n;

	if (cfg_find(endpoint_keys, nodes, "url"))
		check_url(ld, cfg_find(endpoint_keys, nodes, "url"), c->endpoint.url, c->endpoint.allow_insecure_http);
	n = password_sources(ld, src, &first);
	c->endpoint.password_inline = c->endpoint.password != NULL;
	if (c->endpoint.password_inline) {
		cfg_warning(ld, src[2], "endpoint.password: inline password in the configuration; prefer password_file or password_env");
		if (ld->mode & S_IROTH)
			cfg_warning(ld, NULL, "the configuration contains an inline password and is readable by other users (mode %04o); run chmod o-r on it",
				    (unsigned)(ld->mode & 07777));
	}
	if (!(ld->flags & CONFIG_NEED_CREDENTIALS))
		return;
	if (!c->endpoint.username && !cfg_find(endpoint_keys, nodes, "username"))
		cfg_error(ld, at, "endpoint: missing required key \"username\"");
	if (!n)
		cfg_error(ld, at, "endpoint: missing a password source (password_file, password_env or password)");
	else if (n == 1 && first == 0 && c->endpoint.password_file)
		read_password_file(ld, src[0], c);
	else if (n == 1 && first == 1 && c->endpoint.password_env)
		read_password_env(ld, src[1], c);
}

/* ---- agent, batch, retry ---- */

#define AG(field) SECTION_AT(agent, field)
#define BA(field) SECTION_AT(batch, field)
#define RE(field) SECTION_AT(retry, field)

static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const log_format_names[] = { "text", "json", NULL };

static const struct cfg_key agent_keys[] = {
	{ .key = "state_dir", .type = CFG_STRING, AG(state_dir), .def = "/var/lib/onside-agent",
	  .check = cfg_check_abspath, .help = "checkpoint, dead letters and metrics" },
	{ .key = "id_namespace", .type = CFG_STRING, AG(id_namespace), .def = "",
	  .help = "\"\" = /etc/machine-id, else the host name" },
	{ .key = "shutdown_timeout", .type = CFG_DURATION, AG(shutdown_timeout_ms), .def = "10s", .max = UINT64_MAX,
	  .help = "how long in-flight requests may finish on SIGTERM" },
	{ .key = "log_level", .type = CFG_ENUM, AG(log_level), .def = "info", .names = log_level_names,
	  .help = "error | warn | info | debug" },
	{ .key = "log_format", .type = CFG_ENUM, AG(log_format), .def = "text", .names = log_format_names,
	  .help = "text | json (one object per line: time, level, component, message)" },
	{ .key = NULL },
};

static char *machine_id(struct cfg_loader *ld)
{
	char line[256], *p, *e;
	FILE *f = fopen(MACHINE_ID_PATH, "re");

	if (!f)
		return NULL;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (!p)
		return NULL;
	p += strspn(p, " \t");
	for (e = p + strlen(p); e > p && strchr(" \t\r\n", e[-1]); e--)
		;
	*e = '\0';
	return *p ? cfg_strdup(ld, p) : NULL;
}

/* Resolves id_namespace "" to this host's identity: it is part of every event id. */
static void agent_post(struct cfg_loader *ld, void *base, yaml_node_t *const *nodes, yaml_node_t *map)
{
	struct config *c = CONFIG_OF(base, agent);
	char host[HOST_NAME_MAX + 1];
	char *ns;

	if (!c->agent.id_namespace || c->agent.id_namespace[0])
		return;
	ns = machine_id(ld);
	if (!ns && !gethostname(host, sizeof(host))) {
		host[sizeof(host) - 1] = '\0';
		ns = host[0] ? cfg_strdup(ld, host) : NULL;
	}
	if (!ns && !ld->oom) {
		cfg_error(ld, cfg_find(agent_keys, nodes, "id_namespace"),
			  "agent.id_namespace: no " MACHINE_ID_PATH " and no host name; set it explicitly");
		return;
	}
	free(c->agent.id_namespace);
	c->agent.id_namespace = ns;
}

/* max_in_flight: "auto" (stored as 0: adaptive up to the ceiling) or a fixed number. */
static void parse_in_flight(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name)
{
	struct config *c = CONFIG_OF(base, batch);
	const char *s;
	char *end;
	unsigned long long v;

	c->batch.max_in_flight = 0;
	if (!node || !(s = cfg_scalar(ld, node, name, "auto or an integer")) || !strcmp(s, "auto"))
		return;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || s[0] < '0' || s[0] > '9') {
		cfg_error(ld, node, "%s: expected auto or an integer, got \"%s\"", name, s);
		return;
	}
	if (errno == ERANGE || v < 1 || v > CONFIG_MAX_IN_FLIGHT) {
		cfg_error(ld, node, "%s: must be auto or between 1 and %d, got %s", name, CONFIG_MAX_IN_FLIGHT, s);
		return;
	}
	c->batch.max_in_flight = v;
}

static const struct cfg_key batch_keys[] = {
	{ .key = "max_events", .type = CFG_UINT, BA(max_events), .def = "1000", .min = 1, .max = 1000,
	  .help = "events per request" },
	{ .key = "max_bytes", .type = CFG_SIZE, BA(max_bytes), .def = "999999", .min = 1024, .max = 999999,
	  .help = "request body bytes (the API takes under 1 MB)" },
	{ .key = "flush_interval", .type = CFG_DURATION, BA(flush_interval_ms), .def = "1s", .min = 1,
	  .max = UINT64_MAX, .help = "send a partial batch after this long" },
	{ .key = "max_in_flight", .type = CFG_CUSTOM, .parse = parse_in_flight,
	  .help = "concurrent requests: auto (adaptive) or a fixed number" },
	{ .key = "max_in_flight_ceiling", .type = CFG_UINT, BA(max_in_flight_ceiling), .def = "32", .min = 1,
	  .max = CONFIG_MAX_IN_FLIGHT, .help = "the most concurrent requests auto may reach" },
	{ .key = NULL },
};

static void batch_post(struct cfg_loader *ld, void *base, yaml_node_t *const *nodes, yaml_node_t *map)
{
	struct config *c = CONFIG_OF(base, batch);
	yaml_node_t *ceiling = cfg_find(batch_keys, nodes, "max_in_flight_ceiling");

	if (ceiling && c->batch.max_in_flight)
		cfg_warning(ld, ceiling, "batch.max_in_flight_ceiling: ignored: batch.max_in_flight is a fixed number, "
			    "not auto");
}

static const struct cfg_key retry_keys[] = {
	{ .key = "initial_backoff", .type = CFG_DURATION, RE(initial_backoff_ms), .def = "1s", .min = 1,
	  .max = UINT64_MAX, .help = "first wait after a failure" },
	{ .key = "max_backoff", .type = CFG_DURATION, RE(max_backoff_ms), .def = "5m", .min = 1, .max = UINT64_MAX,
	  .help = "the doubling backoff stops growing here" },
	{ .key = NULL },
};

static void retry_post(struct cfg_loader *ld, void *base, yaml_node_t *const *nodes, yaml_node_t *map)
{
	struct config *c = CONFIG_OF(base, retry);
	yaml_node_t *init = cfg_find(retry_keys, nodes, "initial_backoff");
	yaml_node_t *max = cfg_find(retry_keys, nodes, "max_backoff");
	const char *init_text = retry_keys[0].def, *max_text = retry_keys[1].def;

	if (init && init->type == YAML_SCALAR_NODE)
		init_text = (const char *)init->data.scalar.value;
	if (max && max->type == YAML_SCALAR_NODE)
		max_text = (const char *)max->data.scalar.value;

	if (c->retry.max_backoff_ms >= c->retry.initial_backoff_ms)
		return;
	if (max)
		cfg_error(ld, max, "retry.max_backoff: must be at least retry.initial_backoff (%s), got %s",
			  init_text, max_text);
	else
		cfg_error(ld, init, "retry.initial_backoff: must be at most retry.max_backoff (%s), got %s",
			  max_text, init_text);
}

static const struct cfg_key root_keys[] = {
	{ .key = "endpoint", .type = CFG_SECTION, .offset = offsetof(struct config, endpoint), .sub = endpoint_keys,
	  .post = endpoint_post, .help = "where and how events are delivered" },
	{ .key = "agent", .type = CFG_SECTION, .offset = offsetof(struct config, agent), .sub = agent_keys,
	  .post = agent_post, .help = "state, ids and logging" },
	{ .key = "batch", .type = CFG_SECTION, .offset = offsetof(struct config, batch), .sub = batch_keys,
	  .post = batch_post, .help = "request sizes and concurrency" },
	{ .key = "retry", .type = CFG_SECTION, .offset = offsetof(struct config, retry), .sub = retry_keys,
	  .post = retry_post, .help = "backoff after failures" },
	{ .key = "inputs", .type = CFG_CUSTOM, .parse = cfg_parse_inputs, .release = cfg_release_inputs,
	  .help = "the log files to follow (required, unless included files give them)" },
	{ .key = "include", .type = CFG_CUSTOM, .parse = cfg_parse_include,
	  .help = "globs of files whose inputs are added (conf.d)" },
	{ .key = NULL },
};

/* ---- the document ---- */

/* The column (1-based) of the first tab in the indentation of line `line` (0-based) of text, or 0.
 * libyaml's message for one ("found character that cannot start any token") does not say tab. */
static unsigned long tab_in_indent(const char *text, size_t len, size_t line)
{
	size_t i = 0;

	for (size_t l = 0; l < line && i < len; i++)
		if (text[i] == '\n')
			l++;
	for (size_t col = 1; i < len && (text[i] == ' ' || text[i] == '\t'); i++, col++)
		if (text[i] == '\t')
			return col;
	return 0;
}

/* libyaml's own message, at its position: "did not find expected key (while parsing a block
 * mapping at line 2, column 3)"; a tab in the indentation of the lines it names is said first. */
static void report_syntax(struct cfg_loader *ld, const yaml_parser_t *p, const char *text, size_t len)
{
	yaml_node_t at = { .start_mark = p->problem_mark };
	const char *problem = p->problem ? p->problem : "invalid YAML";
	size_t lines[2] = { p->problem_mark.line, p->context ? p->context_mark.line : p->problem_mark.line };

	if (p->error == YAML_READER_ERROR) {
		cfg_error(ld, NULL, "invalid input at byte %zu: %s", p->problem_offset, problem);
		return;
	}
	for (int i = 0; i < 2; i++) {
		unsigned long col = tab_in_indent(text, len, lines[i]);
		yaml_node_t tab = { .start_mark = { .line = lines[i], .column = col - 1 } };

		if (col) {
			cfg_error(ld, &tab, "a tab in the indentation: YAML indents with spaces only (%s)", problem);
			return;
		}
	}
	if (p->context)
		cfg_error(ld, &at, "%s (%s at line %lu, column %lu)", problem, p->context,
			  (unsigned long)p->context_mark.line + 1, (unsigned long)p->context_mark.column + 1);
	else
		cfg_error(ld, &at, "%s", problem);
}

/* open() that cannot hang: a FIFO without a writer in the configuration's place would otherwise stop
 * a SIGHUP reload (and with it the agent) for good. Once open, reads block again, so that a pipe
 * (`-c /dev/stdin`) is still read to its end. Returns the descriptor or -1 with errno set. */
static int open_config(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int flags;

	if (fd < 0)
		return -1;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The whole file, at most CONFIG_MAX_BYTES (the text is kept to point at a tab in a message). Returns
 * 0 with *ret (NUL-terminated) and *ret_len, or a negative errno, reported. */
static int read_text(struct cfg_loader *ld, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *text = NULL, *t;
	struct stat st;
	ssize_t n = 1;
	int fd = open_config(ld->path), r = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISDIR(st.st_mode))
		r = -EISDIR;
	if (r) {
		cfg_error(ld, NULL, "cannot read %s: %s", ld->file ? "the included file" : "the configuration",
			  strerror(-r));
		goto out;
	}
	if (!ld->file)
		ld->mode = st.st_mode;
	while (n > 0 && len <= (size_t)CONFIG_MAX_BYTES) {
		if (len + 1 >= cap || !text) {
			cap = text ? cap * 2 : cap;
			if (!(t = realloc(text, cap))) {
				r = -ENOMEM;
				goto out;
			}
			text = t;
		}
		n = read(fd, text + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			n = 1;
		else if (n > 0)
			len += (size_t)n;
	}
	if (n < 0) {
		r = -errno;
		cfg_error(ld, NULL, "cannot read the configuration: %s", strerror(-r));
	} else if (len > (size_t)CONFIG_MAX_BYTES) {
		r = -EFBIG;
		cfg_error(ld, NULL, "the configuration is larger than 1 MiB");
	}
out:
	if (fd >= 0)
		close(fd);
	if (r) {
		free(text);
		return r;
	}
	text[len] = '\0';
	*ret = text;
	*ret_len = len;
	return 0;
}

/* Parses the file's only document into doc. Returns 0, -EINVAL (reported), or another negative
 * errno when the file cannot be read (reported too). doc is only to be deleted on 0. */
static int load_document(struct cfg_loader *ld, yaml_document_t *doc)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	size_t len = 0;
	char *text = NULL;
	int r;

	if ((r = read_text(ld, &text, &len)) < 0)
		return r;
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, doc)) {
		r = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		report_syntax(ld, &parser, text, len);
	} else if (!yaml_parser_load(&parser, &extra)) {
		/* a broken second document is still a broken file */
		r = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		report_syntax(ld, &parser, text, len);
		yaml_document_delete(doc);
	} else {
		if (yaml_document_get_root_node(&extra))
			cfg_error(ld, yaml_document_get_root_node(&extra),
				  "only one YAML document is allowed in the configuration");
		yaml_document_delete(&extra);
	}
	yaml_parser_delete(&parser);
	free(text);
	return r;
}

int cfg_read_document(struct cfg_loader *ld, yaml_document_t *doc, bool *ret_have_doc)
{
	yaml_document_t *saved = ld->doc;
	int r;

	*ret_have_doc = false;
	r = load_document(ld, doc);
	if (r < 0)
		return r;
	*ret_have_doc = true;
	ld->doc = doc;
	r = cfg_env_substitute(ld);
	ld->doc = saved;
	return r;
}

/* Replaces every occurrence of secret in each message by "<redacted>". A YAML alias can make the
 * password the value of another key whose message quotes its value; this is the last line of defence. */
static void diag_scrub(struct cfg_msgs *m, const char *secret)
{
	static const char mask[] = "<redacted>";
	size_t sl = strlen(secret);

	for (size_t i = 0; i < m->n; i++) {
		char *t = m->v[i].text, *hit, *out, *w;
		const char *from;
		size_t hits = 0, len = strlen(t);

		for (hit = strstr(t, secret); hit; hit = strstr(hit + sl, secret))
			hits++;
		if (!hits)
			continue;
		out = malloc(len - hits * sl + hits * (sizeof(mask) - 1) + 1);
		if (!out) {
			explicit_bzero(t, len); /* better no message than one with the secret */
			continue;
		}
		w = out;
		from = t;
		for (; (hit = strstr(from, secret)); from = hit + sl) {
			memcpy(w, from, (size_t)(hit - from));
			w += hit - from;
			memcpy(w, mask, sizeof(mask) - 1);
			w += sizeof(mask) - 1;
		}
		strcpy(w, from);
		explicit_bzero(t, len);
		free(t);
		m->v[i].text = out;
	}
}

static int diag_take(struct cfg_loader *ld, struct config_diag *diag)
{
	int r = 0;

	if (diag) {
		r = cfg_msgs_move(&ld->errors, &diag->errors, &diag->nerrors);
		if (!r)
			r = cfg_msgs_move(&ld->warnings, &diag->warnings, &diag->nwarnings);
	}
	cfg_msgs_free(&ld->errors);
	cfg_msgs_free(&ld->warnings);
	return r;
}

/* inputs may come from included files only; with none from anywhere, the key is missing. */
static void check_some_inputs(struct cfg_loader *ld, const struct config *c)
{
	yaml_node_t *v = NULL;

	if (c->ninputs || ld->root->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *p = ld->root->data.mapping.pairs.start; p < ld->root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(ld, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "inputs"))
			v = cfg_node(ld, p->value);
	}
	if (v && cfg_is_null(v))
		cfg_error(ld, v, "inputs: must not be empty");
	else if (!v && c->nincluded)
		cfg_error(ld, ld->root, "missing required key \"inputs\" (the included files add none)");
	else if (!v)
		cfg_error(ld, ld->root, "missing required key \"inputs\"");
}

int config_load(const char *path, int flags, struct config **ret, struct config_diag *diag)
{
	struct cfg_loader ld = { .path = path, .main_path = path, .flags = flags, .nfiles = 1 };
	struct config *c = NULL;
	yaml_document_t doc;
	bool have_doc = false;
	int r;

	r = cfg_read_document(&ld, &doc, &have_doc);
	if (!have_doc)
		goto out;
	ld.doc = &doc;
	ld.root = yaml_document_get_root_node(&doc);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		r = -ENOMEM;
		goto out;
	}
	if (!ld.root) {
		cfg_error(&ld, NULL, "the configuration is empty");
	} else if (ld.root->type != YAML_MAPPING_NODE) {
		cfg_error(&ld, ld.root, "expected a mapping at the top level, got %s", cfg_kind(ld.root));
	} else {
		cfg_apply(&ld, root_keys, ld.root, c, &(struct cfg_section){ .name = "" }, NULL);
		check_some_inputs(&ld, c);
	}
	r = ld.oom ? -ENOMEM : ld.errors.n ? -EINVAL : 0;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (c && c->endpoint.password && c->endpoint.password[0]) {
		diag_scrub(&ld.errors, c->endpoint.password);
		diag_scrub(&ld.warnings, c->endpoint.password);
	}
	cfg_redact_free(&ld);
	if (diag_take(&ld, diag) < 0 && !r)
		r = -ENOMEM;
	if (r < 0) {
		config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

size_t config_input_index(const struct config *c, size_t i)
{
	size_t n = 0;

	for (size_t j = 0; j < i; j++)
		n += c->inputs[j].source && c->inputs[i].source && !strcmp(c->inputs[j].source, c->inputs[i].source);
	return n;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	cfg_free(root_keys, c);
	free(c->path);
	free(c);
}

/* Frees what config_load put in d (the struct itself is the caller's) and empties it. */
void config_diag_free(struct config_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nerrors; i++)
		free(d->errors[i]);
	for (size_t i = 0; i < d->nwarnings; i++)
		free(d->warnings[i]);
	free(d->errors);
	free(d->warnings);
	*d = (struct config_diag){ 0 };
}
