// slimctl's sweep driver for Node.js: requires each module named on stdin (one absolute path a
// line) and says which failed. It requires nothing itself but the built-in fs: every file the
// sensor sees after a mark is the item's own. A require cannot be interrupted (it blocks the
// event loop): the run's own time limit bounds the whole. A module that calls process.exit
// while it loads gets an error instead, and the driver goes on.
'use strict';
const fs = require('fs');
const say = (line) => fs.writeSync(1, '\x1eslimctl-sweep ' + line + '\n');
const mark = (step) => {
  try {
    fs.statSync('/.slimctl-mark/' + step);
  } catch (e) {}
};
const names = fs.readFileSync(0, 'utf8').split('\n').filter((n) => n.length > 0);
say('start ' + names.length);
const exit = process.exit;
process.exit = () => {
  throw new Error('the module called process.exit');
};
names.forEach((name, i) => {
  mark(String(i));
  try {
    require(name);
  } catch (e) {
    const kind = (e && e.name) || 'Error';
    const message = String((e && e.message) || e).replace(/\n/g, ' ');
    say('failed ' + i + ' ' + (kind + ': ' + message).slice(0, 160));
  }
  mark('');
});
say('done ' + names.length);
exit.call(process, 0);
