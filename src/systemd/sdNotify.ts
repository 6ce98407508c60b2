/**
 * sdNotify sends a state string ("READY=1") to the service manager, as sd_notify(3): one
 * datagram to $NOTIFY_SOCKET. Without NOTIFY_SOCKET it does nothing and returns false.
 */
import { native } from '../native/native.js';

export function sdNotify(state: string, socket = process.env.NOTIFY_SOCKET): boolean {
  if (!socket) return false;
  native().sendDatagram(socket, Buffer.from(state));
  return true;
}
