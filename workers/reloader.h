/*
 * reloader — --reload: watch the files of the modules the application has
 * imported (and --reload-extra-files) with inotify, and when one changes ask
 * the arbiter to reload, as a HUP would (channel_ask_reload): new workers
 * import the new code, the old ones stop gracefully.
 *
 * Runs in a worker, once its application is loaded: a detached thread of
 * plain C (it never takes the GIL) blocks on the inotify descriptor, so no
 * worker type's loop needs to know about it. It logs what changed and keeps
 * watching (a reload that fails leaves the old workers, and their watch).
 */
#pragma once

struct config;

/*
 * Collect the files (sys.modules' __file__, then cfg->reload_extra_files)
 * and start the watching thread, which writes to channel_fd. Needs the GIL
 * (it reads sys.modules). Returns 0, or -1 after logging why (the worker
 * serves on, without --reload).
 */
int reloader_start(const struct config *cfg, int channel_fd);
