import { EventEmitter } from 'node:events';
import type { DialogRow } from './store.js';

/** A message created over REST with `send_to_chat=1`, for the real-time layer to deliver. */
export interface OutgoingMessage {
  applicationId: number;
  dialog: DialogRow;
  /** The message as the REST API answers it. */
  message: Record<string, unknown>;
}

/**
 * The chat module's internal events. The REST API publishes here; the
 * real-time chat server (a later module) subscribes, so neither calls the other.
 */
export class ChatEvents {
  private readonly emitter = new EventEmitter();

  onMessage(listener: (event: OutgoingMessage) => void): () => void {
    this.emitter.on('message', listener);
    return () => this.emitter.off('message', listener);
  }

  publishMessage(event: OutgoingMessage): void {
    this.emitter.emit('message', event);
  }
}
