// N AXI streams joined channel-wise into one (our StreamingConcat_rtl), per spatial position: the
// position's BEATS[0] beats of input 0, then BEATS[1] of input 1, ..., then the next position.
//
// Written for this project: finn-plus 1.6.1 has StreamingConcat only as HLS. Every input beat arrives here
// already widened to the output's element width (the wrapper sign- or zero-extends each element), so the
// core is a multiplexer and two counters: `sel` (the input being read) and `cnt` (its beat within the
// position). One beat per cycle; out_tvalid follows the selected input's tvalid, and only the selected
// input sees out_tready.
module stream_concat #(
	int unsigned WIDTH = 8,              // bits per (widened) beat
	int unsigned N = 2,                  // input streams
	bit [N*32-1:0] BEATS = {32'd1, 32'd1}  // beats per position of input i (its channels / SIMD) in bits
	                                       // [32i +: 32] (a packed vector: Verilator sizes an unpacked array
	                                       // parameter by N's default, not its override)
)(
	input	logic  clk,
	input	logic  rst_n,  // synchronous, active low

	input	logic [N-1:0][WIDTH-1:0]  in_tdata,
	input	logic [N-1:0]  in_tvalid,
	output	logic [N-1:0]  in_tready,

	output	logic [WIDTH-1:0]  out_tdata,
	output	logic  out_tvalid,
	input	logic  out_tready
);
	localparam int unsigned  SBITS = N > 1 ? $clog2(N) : 1;

	function automatic int unsigned max_beats();
		int unsigned  m = 1;
		for (int i = 0; i < N; i++)  if (BEATS[32*i +: 32] > m)  m = BEATS[32*i +: 32];
		return m;
	endfunction
	localparam int unsigned  CBITS = max_beats() > 1 ? $clog2(max_beats()) : 1;

	logic [SBITS-1:0]  sel;
	logic [CBITS-1:0]  cnt;

	always_comb begin
		out_tdata = in_tdata[sel];
		out_tvalid = in_tvalid[sel];
		in_tready = '0;
		in_tready[sel] = out_tready;
	end

	always_ff @(posedge clk) begin
		if (!rst_n) begin
			sel <= '0;
			cnt <= '0;
		end
		else if (out_tvalid && out_tready) begin
			if (cnt == CBITS'(BEATS[32*sel +: 32] - 1)) begin
				cnt <= '0;
				sel <= sel == SBITS'(N - 1) ? '0 : sel + 1;
			end
			else  cnt <= cnt + 1;
		end
	end
endmodule


// N AXI streams of equal width zipped into one (StreamingConcat_rtl with SIMD = all channels): each input
// delivers its whole position in one beat, and the output beat holds them side by side, input 0 in the
// lowest bits, so N streams join at one position per cycle instead of N. A beat leaves when every input
// has one; each input is consumed together with the others.
module stream_concat_zip #(
	int unsigned WIDTH = 8,  // bits per input beat
	int unsigned N = 2       // input streams
)(
	input	logic  clk,
	input	logic  rst_n,

	input	logic [N-1:0][WIDTH-1:0]  in_tdata,
	input	logic [N-1:0]  in_tvalid,
	output	logic [N-1:0]  in_tready,

	output	logic [N*WIDTH-1:0]  out_tdata,
	output	logic  out_tvalid,
	input	logic  out_tready
);
	assign	out_tdata = in_tdata;
	assign	out_tvalid = &in_tvalid;
	assign	in_tready = {N{out_tready && out_tvalid}};
endmodule
