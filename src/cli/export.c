/*
 * export.c - `ember export`: one flame graph from a running server into a
 * file, through the client module.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ember/client.h"
#include "ember/common.h"

static const char export_usage[] =
    "Usage: ember export --query QUERY [options]\n"
    "\n"
    "Asks a running Ember server for one flame graph (GET /render) and writes\n"
    "it to a file, whole or not at all.\n"
    "\n"
    "Options:\n"
    "  -q, --query QUERY    FlameQL selector, e.g. 'app.cpu{region=\"eu-north\"}'\n"
    "                       (required)\n"
    "      --from TIME      start of the range (default now-1h); also Unix\n"
    "                       seconds or e.g. now-30m\n"
    "      --until TIME     end of the range (default now)\n"
    "  -f, --format FORMAT  svg (interactive flame graph), html (standalone page),\n"
    "                       json (flamebearer, the default) or collapsed (folded\n"
    "                       text, as /ingest takes it)\n"
    "      --max-nodes N    keep the N largest nodes, -1 for as many as the server\n"
    "                       allows (default: the server's, 8192)\n"
    "  -o, --output FILE    where to write; - for standard output (the default)\n"
    "      --server URL     the server (default http://127.0.0.1:4040); plain\n"
    "                       http only: http://HOST[:PORT][/PREFIX], IPv6 as\n"
    "                       http://[::1]:4040\n"
    "      --timeout SECS   give up after SECS without progress (default 60)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Environment:\n"
    "  EMBER_TOKEN          token for a server started with --auth-token-file\n"
    "                       (sent as 'Authorization: Bearer'; a role of read or\n"
    "                       admin)\n"
    "\n"
    "Example:\n"
    "  ember export -q 'ride-sharing-app.cpu{}' --from now-6h -f svg -o cpu.svg\n"
    EMBER_CLI_EXIT_CODES;

/* A --max-nodes value the server takes: a positive count or -1. */
static bool good_max_nodes(const char *s) {
  if (!strcmp(s, "-1")) return true;
  unsigned v;
  return ember_cli_parse_count(s, 1000000000, &v) == 0 && s[0] >= '0' && s[0] <= '9';
}

int ember_cli_export(int argc, char **argv) {
  static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                       {"query", required_argument, NULL, 'q'},
                                       {"from", required_argument, NULL, 'F'},
                                       {"until", required_argument, NULL, 'U'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"max-nodes", required_argument, NULL, 'n'},
                                       {"output", required_argument, NULL, 'o'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  static const char *const formats[] = {"svg", "html", "json", "collapsed"};
  ember_export_opts_t o = {.server = EMBER_CLIENT_DEFAULT_SERVER, .output = "-"};
  unsigned timeout = 60;
  ember_err_t err;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":hq:f:o:", opts, NULL)) != -1) {
    switch (c) {
    case 's': o.server = optarg; break;
    case 'q': o.query = optarg; break;
    case 'F': o.from = optarg; break;
    case 'U': o.until = optarg; break;
    case 'f': {
      bool known = false;
      for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        known |= !strcmp(optarg, formats[i]);
      if (!known)
        return ember_cli_fail("export", "unknown --format", optarg,
                              "use svg, html, json or collapsed");
      o.format = optarg;
      break;
    }
    case 'n':
      if (!good_max_nodes(optarg))
        return ember_cli_fail("export", "bad --max-nodes", optarg,
                              "use a positive number or -1");
      o.max_nodes = optarg;
      break;
    case 'o': o.output = optarg; break;
    case 't':
      if (ember_cli_parse_count(optarg, 86400, &timeout))
        return ember_cli_fail("export", "bad --timeout", optarg,
                              "use seconds from 1 to 86400");
      break;
    case 'h': fputs(export_usage, stdout); return 0;
    case ':':
      return ember_cli_fail("export", "missing value for", argv[optind - 1],
                            "run `ember export --help`");
    default:
      return ember_cli_fail("export", "unknown option", argv[optind - 1],
                            "run `ember export --help`");
    }
  }
  if (optind < argc)
    return ember_cli_fail("export", "unexpected argument", argv[optind],
                          "run `ember export --help`");
  if (!o.query || !*o.query) {
    fprintf(stderr, "ember export: missing --query; e.g. --query 'app.cpu{}' (run `ember "
                    "export --help`)\n");
    return 2;
  }
  if (!*o.output)
    return ember_cli_fail("export", "empty --output", o.output,
                          "name a file, or - for standard output");
  ember_client_url_t url;
  if (ember_client_url_parse(o.server, &url, &err)) {
    fprintf(stderr, "ember export: %s\n", err.msg);
    return 2;
  }
  o.timeout_ms = (int)timeout * 1000;
  o.token = getenv("EMBER_TOKEN");
  if (o.token && !*o.token) o.token = NULL;
  for (const char *p = o.token; p && *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) {
      fprintf(stderr, "ember export: EMBER_TOKEN holds a space or control character; "
                      "set it to the token alone\n");
      return 2;
    }
  signal(SIGPIPE, SIG_IGN);
  size_t bytes = 0;
  if (ember_client_export(&o, &bytes, &err)) {
    fprintf(stderr, "ember export: %s\n", err.msg);
    /* A query the server refused is bad input, as for ember push. */
    return err.code == EMBER_EINVAL ? 2 : 1;
  }
  fprintf(stderr, "ember export: wrote %zu bytes of %s to %s\n", bytes,
          o.format ? o.format : "json",
          strcmp(o.output, "-") ? o.output : "standard output");
  return 0;
}
