// A static snapshot file (Envoy YAML form) for a gRPC `greeter` service behind one endpoint.

export function greeterYaml(backendPort: number, version = '1'): string {
  return `version: "${version}"
nodes:
  "*":
    listeners:
      - name: greeter
        api_listener:
          api_listener:
            "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
            stat_prefix: greeter
            rds:
              route_config_name: greeter-routes
              config_source: { ads: {}, resource_api_version: V3 }
            http_filters:
              - name: envoy.filters.http.router
                typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
    routes:
      - name: greeter-routes
        virtual_hosts:
          - name: greeter
            domains: [greeter]
            routes:
              - match: { prefix: "" }
                route: { cluster: greeter-v1, timeout: { seconds: 10 } }
    clusters:
      - name: greeter-v1
        type: EDS
        eds_cluster_config: { eds_config: { ads: {} } }
        connect_timeout: { seconds: 1 }
    endpoints:
      - cluster_name: greeter-v1
        endpoints:
          - locality: { region: local }
            load_balancing_weight: { value: 1 }
            lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${backendPort} } } }
                health_status: HEALTHY
`;
}
