// Package files holds the parts of file transfers that need no node: safe
// file names from a peer's claim ([SanitizeName]), a download folder's
// partial files and their rename once whole ([Partial]), the free-space
// check ([FreeSpace]), sizes given by the user ([ParseSize]), and the
// sending and receiving loops of a file stream over any io.Reader and
// io.Writer ([Send], [Receive]). Package p2p glues them to sessions,
// streams and the store.
//
// Files:
//
//   - name.go: SanitizeName and the " (1)"-style free name.
//   - partial.go: Partial, the hidden partial file, its resume check and
//     its rename.
//   - space_unix.go, space_other.go: FreeSpace.
//   - size.go: ParseSize.
//   - stream.go: Send and Receive, the chunk loops of a file stream.
package files
