/**
 * memtls/protocol: CPython asyncio's sslproto.py ported to Node, with
 * asyncio's Protocol/Transport model and its loop helpers.
 */
export * from './constants';
export { ConnectionError, ConnectionResetError, ConnectionAbortedError, TimeoutError, isOSError } from './errors';
export { NodeEventLoop, getEventLoop, defaultExceptionHandler } from './event-loop';
export type { EventLoop, Handle, ExceptionContext, ExceptionHandler } from './event-loop';
export { Protocol, BufferedProtocol, isBufferedProtocol } from './protocols';
export type { ProtocolLike, BufferedProtocolLike, AnyProtocol, Transport, LowerTransport } from './protocols';
export { SSLProtocol, SSLProtocolTransport, SSLProtocolState, AppProtocolState } from './ssl-protocol';
export { Waiter, type WaiterListener } from './waiter';
export type { SSLProtocolOptions } from './ssl-protocol';
export { SocketTransport } from './socket-transport';
export { createConnection, createServer, startTls, Server } from './connection';
export type { CreateConnectionOptions, CreateServerOptions, StartTlsOptions, ProtocolFactory, TlsOptions } from './connection';
