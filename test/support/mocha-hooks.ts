/**
 * Root hooks for the whole suite (`.mocharc.json` requires this file). After the last test, a
 * process that is still alive 30 s later has leaked something (a socket, a child, a timer): it
 * names what is still open and exits with a failure, so CI fails loudly with the culprit
 * instead of hanging until its time limit.
 */
export const mochaHooks = {
  afterAll(): void {
    const timer = setTimeout(() => {
      console.error(
        'the test process is still running 30 s after the last test; open resources:',
        process.getActiveResourcesInfo().join(', '),
      );
      // Registered after mocha's own exit handler (which sets the code from the results), so a
      // leak fails the run even when every test passed.
      process.on('exit', () => {
        process.exitCode = 1;
      });
      process.exit();
    }, 30_000);
    timer.unref();
  },
};
