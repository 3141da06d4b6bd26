package models

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// HeldConns counts the connections a server on the loopback port port
// holds open: its TCP sockets on that port established (or closed by
// their client and not yet by the server: CLOSE_WAIT), less those still
// in the listener's accept queue, which no process has accepted. It is
// the kernel's count, the same whatever the server is (a model's
// workers, the native baseline, nginx), so that memory per connection
// divides by the same thing for each.
//
// # Notes
//
// It asks the kernel's socket table over netlink (sock_diag, what `ss`
// uses), for IPv4 and IPv6, and filters by port here. /proc/net/tcp
// says the same in text, but the kernel formats every socket of the
// network namespace into it: with nine thousand connections on
// loopback (eighteen thousand sockets, both ends) a read took 150 to 300
// ms on a busy machine; the binary dump about 40 ms of CPU, most of it
// the kernel's walk of its socket table. Callers sample it about once a
// second, not at every stats tick.
func HeldConns(port int) (int, error) {
	const states = 1<<tcpEstablished | 1<<tcpCloseWait | 1<<tcpListen
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.NETLINK_INET_DIAG)
	if err != nil {
		return 0, os.NewSyscallError("socket(NETLINK_INET_DIAG)", err)
	}
	defer syscall.Close(fd)
	held, queued := 0, 0
	for _, family := range []uint8{syscall.AF_INET, syscall.AF_INET6} {
		err := dumpTCP(fd, family, states, func(state uint8, sport uint16, rqueue uint32) {
			if int(sport) != port {
				return
			}
			if state == tcpListen {
				queued += int(rqueue) // a listener's rqueue is its accept queue
			} else {
				held++
			}
		})
		if err != nil {
			return 0, err
		}
	}
	return max(0, held-queued), nil
}

// TCP states (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpCloseWait   = 8
	tcpListen      = 10
)

// sockDiagByFamily is SOCK_DIAG_BY_FAMILY (linux/sock_diag.h).
const sockDiagByFamily = 20

// inetDiagReqV2 is struct inet_diag_req_v2 (linux/inet_diag.h): a dump of
// a family's TCP sockets in the states of the mask, any address.
type inetDiagReqV2 struct {
	Family, Protocol, Ext, Pad uint8
	States                     uint32
	ID                         [48]byte // struct inet_diag_sockid, unused by a dump
}

// dumpTCP dumps the family's TCP sockets in the states of the mask and
// calls f with each one's state, local port and receive queue.
func dumpTCP(fd int, family uint8, states uint32, f func(state uint8, sport uint16, rqueue uint32)) error {
	type request struct {
		hdr syscall.NlMsghdr
		req inetDiagReqV2
	}
	r := request{
		hdr: syscall.NlMsghdr{Len: uint32(unsafe.Sizeof(request{})), Type: sockDiagByFamily, Flags: syscall.NLM_F_REQUEST | syscall.NLM_F_DUMP, Seq: 1},
		req: inetDiagReqV2{Family: family, Protocol: syscall.IPPROTO_TCP, States: states},
	}
	msg := (*[unsafe.Sizeof(request{})]byte)(unsafe.Pointer(&r))[:]
	if err := syscall.Sendto(fd, msg, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto(sock_diag)", err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return os.NewSyscallError("recvfrom(sock_diag)", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return nil
			case syscall.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno < 0 {
						return os.NewSyscallError("sock_diag", syscall.Errno(-errno))
					}
				}
				return errors.New("sock_diag: error message")
			case sockDiagByFamily:
				// struct inet_diag_msg: family, state, timer, retrans;
				// id (sport and dport big-endian first); expires, rqueue.
				d := m.Data
				if len(d) < 60 {
					continue
				}
				f(d[1], binary.BigEndian.Uint16(d[4:6]), binary.NativeEndian.Uint32(d[56:60]))
			}
		}
	}
}
