// strerror() texts, so that messages read as Postfix's "%m" prints them.

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EEXIST: 'File exists',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
  EPERM: 'Operation not permitted',
  EBUSY: 'Device or resource busy',
  EXDEV: 'Invalid cross-device link',
  ENOTEMPTY: 'Directory not empty',
  ECONNREFUSED: 'Connection refused',
  ETIMEDOUT: 'Connection timed out',
  EAGAIN: 'Resource temporarily unavailable',
};

/** strerror() text for a Node error, as Postfix's %m prints it. */
export function errnoText(err: NodeJS.ErrnoException): string {
  return (err.code && ERRNO_TEXT[err.code]) || err.message;
}
