# slimctl's sweep driver for Ruby: requires each feature named on stdin (one a line), then
# resolves each constant path (`::Rack::Auth::Basic`: naming a constant runs the autoload that
# defines it), each guarded and with a time limit, and says which failed. It loads nothing
# itself: every file the sensor sees after a mark is the item's own (a thread is in its
# process's step). A library that calls exit while it loads raises SystemExit, which is
# caught; at the end the driver leaves with exit!, so no at_exit hook a library set (a web
# framework's "run the app") runs.
LIMIT = 5

def say(line)
  $stdout.syswrite("\x1eslimctl-sweep #{line}\n")
end

def mark(step)
  File.stat("/.slimctl-mark/#{step}")
rescue SystemCallError
  nil
end

def load_item(name)
  if name.start_with?('::')
    Object.const_get(name[2..])
  else
    require name
  end
  nil
rescue Exception => e # SystemExit and ScriptError (LoadError) too
  e
end

names = $stdin.read.split("\n").reject(&:empty?)
say("start #{names.size}")
# Features first: the constants they define are named after.
order = names.each_index.partition { |i| !names[i].start_with?('::') }.flatten
order.each do |i|
  mark(i)
  worker = Thread.new { load_item(names[i]) }
  error = worker.join(LIMIT) ? worker.value : RuntimeError.new("took longer than #{LIMIT} s")
  mark('')
  # The first line only: error_highlight adds the source line after it.
  say("failed #{i} " + "#{error.class}: #{error.message.to_s.lines.first.to_s.chomp}"[0, 160]) if error
end
say("done #{names.size}")
exit!(0)
