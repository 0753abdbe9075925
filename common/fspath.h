/*
 * common/fspath.h - path arithmetic on strings: join, normalise, resolve
 * against a folder, compare. Nothing on disk is looked at (symlinks are not
 * followed), except the current folder that fs_path_resolve() may need.
 *
 * Returned strings are malloc'd and belong to the caller (free()).
 * Allocation failure aborts. common/fsutil.h includes this header; the
 * folder part of a path, which the atomic writer needs, is fs_path_dir()
 * there.
 */
#ifndef PGC_COMMON_FSPATH_H
#define PGC_COMMON_FSPATH_H

#include <stdbool.h>

/*
 * fs_path_join - dir + "/" + name with one separator between them; when
 * name is absolute the result is a copy of name. No normalisation.
 */
char *fs_path_join(const char *dir, const char *name);

/*
 * fs_path_resolve - the absolute, normalised form of rel: rel itself when
 * absolute, else base/rel, base being made absolute against the current
 * folder when relative (base NULL means the current folder). "." and empty
 * components are dropped, ".." removes the previous component (lexically:
 * symlinks are not followed, nothing needs to exist; ".." at "/" stays "/").
 * The result has no trailing "/" except for "/" itself.
 * Returns NULL only when the current folder is needed and unknown (reported).
 */
char *fs_path_resolve(const char *base, const char *rel);

/*
 * fs_path_normalize - lexical normalisation as in fs_path_resolve() without
 * making the path absolute: a relative path stays relative, keeping leading
 * ".." components ("a/../../b" -> "../b"); "" and "a/.." give ".".
 */
char *fs_path_normalize(const char *path);

/*
 * fs_path_sibling - "<parent>/.<name><suffix>" for path "<parent>/<name>"
 * (trailing slashes ignored): a hidden file beside a folder, for what must
 * not live inside it (a copy of the folder would carry it). malloc'd.
 */
char *fs_path_sibling(const char *path, const char *suffix);

/*
 * fs_path_is_inside - true when child lies strictly below parent, compared
 * component by component after lexical normalisation: "/a/b/c" is inside
 * "/a/b", "/a/bc" is not, and a path is not inside itself (compare
 * normalised paths with strcmp for that). Pass absolute paths (resolve
 * first); mixing an absolute and a relative path gives false.
 */
bool fs_path_is_inside(const char *parent, const char *child);

#endif
