/*
 * swarmctl — shared declarations: the command groups, and helpers that turn
 * libswarm objects into JSON trees and libswarm errors into docker's texts.
 */
#ifndef SWARMCTL_CLI_H
#define SWARMCTL_CLI_H

#include "flags.h"
#include "json.h"
#include "strbuf.h"

#include <swarm/swarm.h>

/* Command groups: argv starts after the group word. Return the exit code. */
int cmd_swarm(swarm_cluster_t *c, int argc, char **argv);
int cmd_node(swarm_cluster_t *c, int argc, char **argv);
int cmd_service(swarm_cluster_t *c, int argc, char **argv);
int cmd_info(swarm_cluster_t *c, int argc, char **argv);

/* Subcommands of "service", one file each. */
int service_create(swarm_cluster_t *c, int argc, char **argv);
int service_update(swarm_cluster_t *c, int argc, char **argv);
int service_ls(swarm_cluster_t *c, int argc, char **argv);
int service_ps(swarm_cluster_t *c, int argc, char **argv);
int service_inspect(swarm_cluster_t *c, int argc, char **argv);
int service_scale(swarm_cluster_t *c, int argc, char **argv);
int service_rm(swarm_cluster_t *c, int argc, char **argv);

/* The last libswarm error as docker prints it ("Error response from daemon: ..."); malloc'ed. */
char *daemon_error_text(void);
/* Prints daemon_error_text() to stderr and returns 1. */
int report_daemon_error(void);

/* JSON trees of libswarm objects; NULL on failure (see swarm_error_last). */
json *fetch_service(swarm_cluster_t *c, const char *ref);
json *fetch_services(swarm_cluster_t *c, const char *filters);
json *fetch_tasks(swarm_cluster_t *c, const char *filters);
json *fetch_nodes(swarm_cluster_t *c, const char *filters);
json *fetch_node(swarm_cluster_t *c, const char *ref);
json *fetch_info(swarm_cluster_t *c);
json *fetch_swarm(swarm_cluster_t *c);

/* Turns repeated "--filter k=v" into {"k":["v",...]}; NULL when empty. Sets *err on a bad item. */
char *filters_json(const strlist *items, char **err);

/* Natural ordering of names ("web2" < "web10"), as docker sorts rows. */
int natural_compare(const char *a, const char *b);

/* Image as docker shows it in lists: the digest is dropped when a tag is present. */
char *display_image(const char *image);

/* Prints the tasks table of service ps / node ps. */
int print_tasks(swarm_cluster_t *c, json *tasks, int no_trunc, int quiet, const char *format);

/* Waits for a service to converge, printing docker's progress (to /dev/null when quiet). */
int wait_on_service(swarm_cluster_t *c, const char *service_ref, int quiet);

#endif
