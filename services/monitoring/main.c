/* main.c - monitoring-service entry point. */
#include "daemon.h"

extern const struct service_def mon_service;

int main(int argc, char **argv)
{
    return daemon_run(&mon_service, argc, argv);
}
