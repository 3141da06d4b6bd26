// websocket echoes WebSocket messages (RFC 6455) on a hijacked connection
// (http.Hijacker): the connection's bytes travel both ways through the
// sandbox for as long as the client keeps it open. Under the process and
// thread models each open socket holds its lane; on a loop it holds
// nothing while it waits for the client's next message.
//
// Try it from a browser's console:
//
//	s = new WebSocket("ws://127.0.0.1:8080/ws"); s.onmessage = e => console.log(e.data); s.onopen = () => s.send("hi")
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Sec-Websocket-Key")
		if r.Header.Get("Upgrade") != "websocket" || key == "" {
			http.Error(w, "a WebSocket handshake, please (Upgrade: websocket)", http.StatusBadRequest)
			return
		}
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer c.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acceptKey(key))
		if rw.Flush() != nil {
			return
		}
		for {
			op, msg, err := readFrame(rw.Reader)
			if err != nil {
				return
			}
			switch op {
			case opClose:
				writeFrame(rw.Writer, opClose, msg)
				rw.Flush()
				return
			case opPing:
				op = opPong
			}
			if writeFrame(rw.Writer, op, msg) != nil || rw.Flush() != nil {
				return
			}
		}
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "a WebSocket echo on /ws, served by %s\n", guest.Worker())
	})
	guest.Serve(nil)
}

// acceptKey is the handshake's Sec-WebSocket-Accept for key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Opcodes.
const (
	opText  = 1
	opClose = 8
	opPing  = 9
	opPong  = 10
)

// maxMessage bounds a message this echo accepts.
const maxMessage = 1 << 20

// readFrame reads one frame from a client (masked, unfragmented).
func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	if h[0]&0x80 == 0 {
		return 0, nil, errors.New("fragmented messages are not supported")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > maxMessage {
		return 0, nil, errors.New("message too large")
	}
	var mask [4]byte
	if h[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return op, payload, nil
}

// writeFrame writes one unmasked frame, as a server does.
func writeFrame(w *bufio.Writer, op byte, payload []byte) error {
	w.WriteByte(0x80 | op)
	switch n := len(payload); {
	case n < 126:
		w.WriteByte(byte(n))
	case n < 1<<16:
		w.WriteByte(126)
		binary.Write(w, binary.BigEndian, uint16(n))
	default:
		w.WriteByte(127)
		binary.Write(w, binary.BigEndian, uint64(n))
	}
	_, err := w.Write(payload)
	return err
}
