package p2p

import (
	"context"
	"errors"
)

// Placeholder bodies, replaced as the transfer engine lands.

func (n *Node) sendFile(ctx context.Context, to, path string) (string, string, error) {
	return "", "", errors.New("p2p: file transfer not built yet")
}

func (n *Node) acceptFile(fileID, path string) error { return ErrUnknownFile }
func (n *Node) rejectFile(fileID string) error       { return ErrUnknownFile }
func (n *Node) transfers() []Transfer                { return nil }
