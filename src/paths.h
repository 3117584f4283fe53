/*
 * paths — where forq keeps its state directory and socket.
 *
 * State dir:  $FORQ_STATE, else $XDG_STATE_HOME/forq, else ~/.local/state/forq.
 * Socket:     $FORQ_SOCKET, else $XDG_RUNTIME_DIR/forq/forq.sock, else
 *             <state dir>/forq.sock.
 * Both forqd and forq resolve them the same way, so the defaults meet.
 */
#ifndef FORQ_PATHS_H
#define FORQ_PATHS_H

#include <stddef.h>

/* paths_state_dir - the default state directory into @buf.  0 or -ENAMETOOLONG/-ENOENT. */
int paths_state_dir(char *buf, size_t len);

/*
 * paths_socket - the default socket path into @buf; @state_dir is the state
 * directory in use (NULL: the default one).  0 or -ENAMETOOLONG/-ENOENT.
 */
int paths_socket(char *buf, size_t len, const char *state_dir);

/* paths_mkdirs - create @dir and its parents with @mode (like mkdir -p). 0 or -errno. */
int paths_mkdirs(const char *dir, unsigned mode);

#endif
