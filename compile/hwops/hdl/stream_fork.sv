// One AXI stream to N identical streams (our DuplicateStreams_rtl): every input beat goes to every output.
//
// Written for this project: finn-plus 1.6.1 has DuplicateStreams only as HLS, so a network that forks a
// stream (a residual block, parallel branches) cannot be verilated or built without Vitis HLS. The input
// beat is held until every output has taken it; `taken` remembers the outputs that already have, so a
// slow output stalls the input without making a fast one take the beat twice. out_tvalid depends on
// registers and in_tvalid only (never on a ready), as AXI-stream requires; in_tready is combinational in
// the outputs' readies (a FIFO between layers, as FINN inserts, breaks that path in a real design).
module stream_fork #(
	int unsigned WIDTH = 8,  // bits per beat
	int unsigned N = 2       // output streams
)(
	input	logic  clk,
	input	logic  rst_n,  // synchronous, active low

	input	logic [WIDTH-1:0]  in_tdata,
	input	logic  in_tvalid,
	output	logic  in_tready,

	output	logic [N-1:0][WIDTH-1:0]  out_tdata,
	output	logic [N-1:0]  out_tvalid,
	input	logic [N-1:0]  out_tready
);
	logic [N-1:0]  taken;  // outputs that have the current input beat already

	always_comb begin
		for (int i = 0; i < N; i++) begin
			out_tdata[i] = in_tdata;
			out_tvalid[i] = in_tvalid && !taken[i];
		end
		in_tready = &(taken | out_tready);
	end

	always_ff @(posedge clk) begin
		if (!rst_n)  taken <= '0;
		else if (in_tvalid)  taken <= in_tready ? '0 : taken | (out_tvalid & out_tready);
	end
endmodule
