# Debian's ruby-jaeger-client (a real Jaeger client: Thrift compact protocol over UDP) sends one
# trace to the agent: a server root, a child with a log and error=true, a FOLLOWS_FROM span.
# Usage: ruby jaeger_ruby_client.rb PORT [guide]. Prints the ids it made, as JSON, for the test to
# compare. `guide`: as the guides set it up, to localhost, with the client's remote sampler asking
# the agent (localhost:5778) for its strategy before the trace starts (printed as sampling_rate).
require 'jaeger/client'
require 'json'
require 'logger'

port = Integer(ARGV.fetch(0))
logger = Logger.new($stderr)
encoder = Jaeger::Encoders::ThriftEncoder.new(service_name: 'ruby-pricer',
                                              tags: { 'team' => 'pricing' }, logger: logger)
guide = ARGV[1] == 'guide'
sender = Jaeger::UdpSender.new(host: guide ? 'localhost' : '127.0.0.1', port: port,
                               encoder: encoder, logger: logger)
reporter = Jaeger::Reporters::RemoteReporter.new(sender: sender, flush_interval: 3600)
sampler = Jaeger::Samplers::Const.new(true)
if guide
  # Left alone it would poll in the background every minute, sampling 0.1% until answered.
  sampler = Jaeger::Samplers::RemoteControlled.new(service_name: 'ruby-pricer', logger: logger)
  sampler.poll
end
tracer = Jaeger::Client.build(service_name: 'ruby-pricer', reporter: reporter, sampler: sampler,
                              logger: logger)

root = tracer.start_span('quote', tags: { 'span.kind' => 'server', 'symbol' => 'BTCUSDT',
                                          'qty' => 5, 'px' => 101.5, 'firm' => true })
child = tracer.start_span('price_lookup', child_of: root, tags: { 'venue' => 'XNAS' })
child.log_kv(event: 'cache_miss', key: 'BTCUSDT', attempt: 2)
child.set_tag('error', true)
child.finish
audit = tracer.start_span('audit',
                          references: [OpenTracing::Reference.follows_from(root.context)])
audit.finish
root.finish
reporter.flush

puts JSON.generate(
  sampling_rate: guide ? sampler.sampler.rate : nil,
  trace_id: root.context.to_trace_id,
  spans: { quote: root.context.to_span_id, price_lookup: child.context.to_span_id,
           audit: audit.context.to_span_id }
)
