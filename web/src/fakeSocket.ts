// A WebSocket stand-in for the component tests.

/** A WebSocket stand-in: records what is sent and lets the test deliver messages. */
export class FakeSocket {
  static all: FakeSocket[] = []
  onopen: (() => void) | null = null
  onmessage: ((ev: { data: string }) => void) | null = null
  onclose: (() => void) | null = null
  sent: string[] = []
  closed = false
  constructor(public url: string) {
    FakeSocket.all.push(this)
  }
  send(s: string) {
    this.sent.push(s)
  }
  close() {
    this.closed = true
    this.onclose?.()
  }
}
