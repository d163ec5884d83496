// gRPC ↔ HTTP status mappings as Envoy uses them: gRPC → HTTP for outlier
// detection and stats of trailers-only responses, HTTP → gRPC for local
// replies (e.g. a fault abort configured as an HTTP status on a gRPC route).

//                           0    1    2    3    4    5    6    7    8    9   10   11   12   13   14   15   16
const GRPC_TO_HTTP = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

export function httpStatusForGrpc(grpcStatus: number): number {
  return GRPC_TO_HTTP[grpcStatus] ?? 500;
}

export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}
